// The check's stand-in for a lookup (dimension) table: open-source Flink ships no lookup
// connector in PyFlink's jars, and the planner needs one to plan `JOIN d FOR SYSTEM_TIME
// AS OF`. check.py compiles this file against the venv's pyflink/lib/*.jar (javac
// --release 11), jars it with its META-INF/services entry and loads it with
// `pipeline.jars`. Written against the API Flink 1.17 and 1.20 share (LookupFunction and
// LookupFunctionProvider exist since 1.16). The lookup finds nothing: only the planner
// runs it.

package flinkcheck;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.LookupTableSource;
import org.apache.flink.table.connector.source.lookup.LookupFunctionProvider;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.functions.LookupFunction;

import java.util.Collection;
import java.util.Collections;
import java.util.Set;

/** The factory of connector `flinkcheck-lookup`; it takes any options (it validates none). */
public class LookupStandIn implements DynamicTableSourceFactory {
    public static final String IDENTIFIER = "flinkcheck-lookup";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.emptySet();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.emptySet();
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        return new Source();
    }

    /** A table that can only be looked up, never scanned. */
    public static class Source implements LookupTableSource {
        @Override
        public LookupRuntimeProvider getLookupRuntimeProvider(LookupContext context) {
            return LookupFunctionProvider.of(new Nothing());
        }

        @Override
        public DynamicTableSource copy() {
            return new Source();
        }

        @Override
        public String asSummaryString() {
            return IDENTIFIER;
        }
    }

    /** Finds no row for any key. */
    public static class Nothing extends LookupFunction {
        private static final long serialVersionUID = 1L;

        @Override
        public Collection<RowData> lookup(RowData keyRow) {
            return Collections.emptyList();
        }
    }
}
