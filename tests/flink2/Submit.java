import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;

/**
 * Submits a Flink SQL script, as flinkform renders it, to the session cluster that
 * `bin/flink run -d` points it at: each statement in order, the INSERT (or the
 * `BEGIN STATEMENT SET; ... END;` block) as the job. Prints `JOB <id>` for the job.
 * The open-source PyPI packages ship no SQL Gateway, so this stands in for VVP's.
 */
public class Submit {
    public static void main(String[] args) throws Exception {
        String script = Files.readString(Path.of(args[0]));
        TableEnvironment env = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
        StatementSet set = null;
        for (String statement : statements(script)) {
            String upper = statement.toUpperCase();
            if (upper.equals("BEGIN STATEMENT SET")) {
                set = env.createStatementSet();
            } else if (upper.equals("END")) {
                report(set.execute());
                set = null;
            } else if (set != null) {
                set.addInsertSql(statement);
            } else {
                report(env.executeSql(statement));
            }
        }
    }

    private static void report(TableResult result) {
        result.getJobClient().ifPresent(c -> System.out.println("JOB " + c.getJobID()));
    }

    /** The statements of a script: `--` comment lines dropped, split at `;` ending a line. */
    private static List<String> statements(String script) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : script.split("\n")) {
            if (line.trim().startsWith("--")) {
                continue;
            }
            current.append(line).append('\n');
            if (line.trim().endsWith(";")) {
                String s = current.toString().trim();
                out.add(s.substring(0, s.length() - 1).trim());
                current.setLength(0);
            }
        }
        if (!current.toString().isBlank()) {
            out.add(current.toString().trim());
        }
        return out;
    }
}
