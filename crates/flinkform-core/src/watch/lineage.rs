//! Lineage: topics → pipelines → tables and topics, across an environment's pipelines
//! (one pipeline's Kafka sink is the topic another reads), and its drawing as SVG,
//! made on the server: columns by the longest path from a source, rows in name order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use crate::state::State;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A Kafka topic.
    Topic,
    /// A pipeline.
    Pipeline,
    /// A sink table (`schema.table`).
    Table,
}

/// A node, known by its kind, name and where it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Its name: a topic's, a pipeline's, a table's `database.schema.table`.
    pub name: String,
    /// A table's database endpoint (two databases may hold tables of one name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl NodeKind {
    /// Its name, as the SVG's classes and attributes spell it.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Topic => "topic",
            NodeKind::Pipeline => "pipeline",
            NodeKind::Table => "table",
        }
    }
}

impl Node {
    /// `kind:name`, unique in a graph but for tables of one name in two databases.
    pub fn id(&self) -> String {
        format!("{}:{}", self.kind.name(), self.name)
    }
}

/// The graph: nodes in order, edges by index.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Graph {
    /// Every node, sorted.
    pub nodes: Vec<Node>,
    /// (from, to) as indexes of `nodes`, sorted.
    pub edges: Vec<(usize, usize)>,
}

/// The lineage of every recorded pipeline of `state`.
pub fn graph(state: Option<&State>) -> Graph {
    let mut edges: BTreeSet<(Node, Node)> = BTreeSet::new();
    let node = |kind, name: &str| Node { kind, name: name.to_string(), at: None };
    for (name, p) in state.iter().flat_map(|s| s.pipelines.iter()) {
        let me = node(NodeKind::Pipeline, name);
        edges.insert((node(NodeKind::Topic, &p.topic), me.clone()));
        for s in p.sinks() {
            let to = match s.sink.kafka {
                Some(_) => node(NodeKind::Topic, &s.sink.table),
                None => {
                    // Where the table is, from the settings the sink was applied with.
                    let prefix = if s.first { "sink".to_string() } else { crate::spec::sink_prefix(&s.sink.label()) };
                    let setting =
                        |k: &str| p.settings.get(&format!("{prefix}.{k}")).map(|v| v.trim_matches('"').to_string());
                    let name = match setting("database") {
                        Some(db) => format!("{db}.{}", s.sink.label()),
                        None => s.sink.label(),
                    };
                    Node { kind: NodeKind::Table, name, at: setting("endpoint") }
                }
            };
            edges.insert((me.clone(), to));
        }
    }
    let mut nodes: BTreeSet<Node> = BTreeSet::new();
    for (a, b) in &edges {
        nodes.insert(a.clone());
        nodes.insert(b.clone());
    }
    let nodes: Vec<Node> = nodes.into_iter().collect();
    let index: BTreeMap<&Node, usize> = nodes.iter().enumerate().map(|(i, n)| (n, i)).collect();
    let edges = edges.iter().map(|(a, b)| (index[a], index[b])).collect();
    Graph { nodes, edges }
}

impl Graph {
    /// Each node's column: the longest path to it from a node nothing feeds (Kahn's
    /// order; a node on a cycle goes one column past the furthest it follows).
    pub fn layers(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut incoming = vec![0usize; n];
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in &self.edges {
            incoming[b] += 1;
            out[a].push(b);
        }
        let mut layer = vec![0usize; n];
        let mut ready: Vec<usize> = (0..n).filter(|&i| incoming[i] == 0).collect();
        let mut done = vec![false; n];
        while let Some(i) = ready.pop() {
            done[i] = true;
            for &j in &out[i] {
                layer[j] = layer[j].max(layer[i] + 1);
                incoming[j] -= 1;
                if incoming[j] == 0 {
                    ready.push(j);
                }
            }
        }
        let deepest = layer.iter().copied().max().unwrap_or(0);
        for (i, d) in done.iter().enumerate() {
            if !d {
                layer[i] = layer[i].max(deepest + 1);
            }
        }
        layer
    }

    /// Each node's row in its column: the first column by name, each next one by the
    /// mean row of what feeds a node (the barycenter heuristic: fewer edges cross).
    fn rows(&self, layers: &[usize]) -> Vec<usize> {
        let mut feeds: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for &(a, b) in &self.edges {
            feeds[b].push(a);
        }
        let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); layers.iter().copied().max().map_or(0, |m| m + 1)];
        for (i, &l) in layers.iter().enumerate() {
            by_layer[l].push(i);
        }
        let mut row = vec![0usize; self.nodes.len()];
        for nodes in &mut by_layer {
            let key = |i: &usize| {
                let f = &feeds[*i];
                // Fed by nothing placed yet (a first column, a cycle): after the others.
                let placed: Vec<usize> = f.iter().filter(|&&a| layers[a] < layers[*i]).map(|&a| row[a]).collect();
                if placed.is_empty() { f64::MAX } else { placed.iter().sum::<usize>() as f64 / placed.len() as f64 }
            };
            let mut keyed: Vec<(f64, usize)> = nodes.iter().map(|i| (key(i), *i)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (r, (_, i)) in keyed.into_iter().enumerate() {
                row[i] = r;
            }
        }
        row
    }

    /// The graph as an SVG document; `href(pipeline)` is the address a pipeline's node
    /// links to.
    pub fn svg(&self, href: &dyn Fn(&str) -> String) -> String {
        const W: usize = 220;
        const H: usize = 34;
        const GAP_X: usize = 90;
        const GAP_Y: usize = 18;
        let layers = self.layers();
        let row = self.rows(&layers);
        let mut rows = vec![0usize; layers.iter().copied().max().map_or(0, |m| m + 1)];
        let mut at = vec![(0usize, 0usize); self.nodes.len()];
        for (i, &l) in layers.iter().enumerate() {
            at[i] = (10 + l * (W + GAP_X), 10 + row[i] * (H + GAP_Y));
            rows[l] += 1;
        }
        let width = 20 + rows.len().max(1) * (W + GAP_X) - GAP_X;
        let height = 20 + rows.iter().copied().max().unwrap_or(1).max(1) * (H + GAP_Y) - GAP_Y;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="lineage" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="lineage">"#
        );
        for &(a, b) in &self.edges {
            let ((ax, ay), (bx, by)) = (at[a], at[b]);
            let (x1, y1, x2, y2) = (ax + W, ay + H / 2, bx, by + H / 2);
            let mid = (x1 + x2) / 2;
            let _ = write!(
                s,
                r#"<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" data-from="{}" data-to="{}"/>"#,
                xml(&self.nodes[a].id()),
                xml(&self.nodes[b].id())
            );
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let (x, y) = at[i];
            let kind = n.kind.name();
            let label = if n.name.chars().count() > 28 {
                format!("{}…", n.name.chars().take(27).collect::<String>())
            } else {
                n.name.clone()
            };
            let body = format!(
                r#"<g class="node {kind}" data-{kind}="{name}"><title>{kind} {name}{at}</title><rect x="{x}" y="{y}" width="{W}" height="{H}" rx="6"/><text x="{tx}" y="{ty}">{label}</text></g>"#,
                name = xml(&n.name),
                at = n.at.as_deref().map_or(String::new(), |a| format!(" at {}", xml(a))),
                tx = x + 10,
                ty = y + H / 2 + 5,
                label = xml(&label)
            );
            match n.kind {
                NodeKind::Pipeline => {
                    let _ = write!(s, r#"<a href="{}">{body}</a>"#, xml(&href(&n.name)));
                }
                _ => s.push_str(&body),
            }
        }
        s.push_str("</svg>");
        s
    }
}

/// Text escaped for XML content and attribute values.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
