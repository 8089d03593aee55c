//! The layer rules of STYLE.md ("Layers") and issue 17's "no import cycle but config ↔
//! routing", checked on the source so they stay true: the module graph is built from the
//! `crate::<module>` paths in `src/` (test modules left out: they may reach anything).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level module -> the top-level modules its non-test code names through `crate::`.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/chat/sync.rs` -> `chat`, `src/main.rs` -> `main`).
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src/");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The file's code without comments and without its `#[cfg(test)] mod …` (unit tests).
fn non_test_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules named after `crate::` in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(i, _)| {
            code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

/// Files compiled only for tests (`#[cfg(test)] mod x;` in main.rs).
fn test_only_modules(main: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut lines = main.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "#[cfg(test)]" {
            if let Some(m) = lines.next().and_then(|n| n.trim().strip_prefix("mod ")) {
                out.insert(m.trim_end_matches(';').to_string());
            }
        }
    }
    out
}

/// (file, module, imported modules) for every non-test source file.
fn sources() -> Vec<(String, String, BTreeSet<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let main = fs::read_to_string(src.join("main.rs")).expect("main.rs");
    let test_only = test_only_modules(&main);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let module = top_module(&src, &f);
            if test_only.contains(&module) {
                return None;
            }
            let text = fs::read_to_string(&f).expect("read source");
            let rel = f.strip_prefix(&src).unwrap().display().to_string();
            Some((rel, module, crate_paths(&non_test_code(&text))))
        })
        .collect()
}

fn graph() -> Graph {
    let mut g = Graph::new();
    for (_, module, imports) in sources() {
        let edges = g.entry(module.clone()).or_default();
        edges.extend(imports.into_iter().filter(|m| *m != module));
    }
    g
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        g: &'a Graph,
        next: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        for w in s.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.found.push(comp);
            }
        }
    }
    let mut s = State {
        g,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    // Guards the check below against passing because it cannot see anything.
    let mut g = Graph::new();
    g.insert("a".into(), set(&["b"]));
    g.insert("b".into(), set(&["c"]));
    g.insert("c".into(), set(&["a", "d"]));
    assert_eq!(cycles(&g), vec![set(&["a", "b", "c"])]);
    assert!(
        crate_paths("use crate::chat::sync;\nlet x = crate::text::one_line(a, 3);")
            .contains("text")
    );
}

#[test]
fn no_import_cycle_but_config_and_routing() {
    let g = graph();
    assert!(g.len() > 20, "read too few modules: {:?}", g.keys());
    assert_eq!(cycles(&g), vec![set(&["config", "routing"])]);
}

#[test]
fn pandora_formats_depend_only_on_time() {
    for (file, module, imports) in sources() {
        if module == "pandora" {
            let bad: Vec<_> = imports
                .iter()
                .filter(|m| *m != "pandora" && *m != "time")
                .collect();
            assert!(bad.is_empty(), "src/{file} imports {bad:?}");
        }
    }
}

#[test]
fn chat_does_not_import_delivery_and_only_main_imports_commands() {
    for (file, module, imports) in sources() {
        if module == "chat" {
            assert!(!imports.contains("delivery"), "src/{file} imports delivery");
        }
        if module != "main" && module != "commands" {
            assert!(!imports.contains("commands"), "src/{file} imports commands");
        }
    }
}

#[test]
fn the_pure_core_never_imports_store_chat_or_http() {
    for (file, module, imports) in sources() {
        if ["lifecycle", "storm", "incident", "routing"].contains(&module.as_str()) {
            for effect in ["store", "chat", "http"] {
                assert!(!imports.contains(effect), "src/{file} imports {effect}");
            }
        }
    }
}
