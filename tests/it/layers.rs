//! The layers of `src/` keep their direction: a module imports only from the floors below its
//! own, or from its own floor without a loop; and the three front doors (`web`, `api`, `odoo`)
//! never import one another. This test reads every `crate::` and `super::` path in `src/` and
//! names each import that breaks the rule — and shows once, on planted code, that it would.
//!
//! The floors, from the ground up (see `src/lib.rs`): kernel, platform, domain, services,
//! read_models, http, the front doors, and the app (startup, cli, demo, main).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// Floors whose modules are separate units (a module may import another of its floor).
const FLOORS_OF_MODULES: &[&str] = &["kernel", "platform", "domain", "services"];
/// Each floor's height; the front doors share one height but not each other.
const FLOORS: &[(&str, u8)] = &[
    ("kernel", 0),
    ("platform", 1),
    ("domain", 2),
    ("services", 3),
    ("read_models", 4),
    ("http", 5),
    ("web", 6),
    ("api", 6),
    ("odoo", 6),
    ("app", 7),
];

fn height(floor: &str) -> u8 {
    FLOORS
        .iter()
        .find(|(f, _)| *f == floor)
        .map(|(_, h)| *h)
        .unwrap_or_else(|| panic!("`{floor}` is no floor: add it to FLOORS and to src/lib.rs"))
}

/// A unit of the picture: a floor and, on the floors of modules, one module of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Unit {
    floor: String,
    module: String,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.floor == self.module {
            write!(f, "{}", self.floor)
        } else {
            write!(f, "{}::{}", self.floor, self.module)
        }
    }
}

/// The unit a module path (`["domain", "ledger", "batch"]`) belongs to.
fn unit_of(path: &[String]) -> Option<Unit> {
    let first = path.first()?;
    if FLOORS_OF_MODULES.contains(&first.as_str()) {
        // The floor's own `mod.rs` only lists its modules.
        let module = path.get(1).unwrap_or(first);
        return Some(Unit {
            floor: first.clone(),
            module: module.clone(),
        });
    }
    let floor = match first.as_str() {
        "startup" | "cli" | "demo" | "main" | "lib" => "app",
        other => other,
    };
    FLOORS.iter().any(|(f, _)| *f == floor).then(|| Unit {
        floor: floor.to_string(),
        module: floor.to_string(),
    })
}

/// A file's module path: `src/domain/ledger/mod.rs` → `["domain", "ledger"]`.
fn module_path(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .strip_prefix("src")
        .unwrap_or(file)
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments (`//` to the end of the line, outside strings is
/// good enough here: a path inside a string is no import either).
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every import of one unit by another, with the files that make it.
fn imports(files: &[(PathBuf, String)]) -> BTreeMap<(Unit, Unit), BTreeSet<String>> {
    let path = Regex::new(r"\b((?:super::)+|crate::)(\w+)(?:::(\w+))?").unwrap();
    let mut found: BTreeMap<(Unit, Unit), BTreeSet<String>> = BTreeMap::new();
    for (file, source) in files {
        let here = module_path(file);
        let Some(from) = unit_of(&here) else {
            continue;
        };
        for caps in path.captures_iter(&without_comments(source)) {
            let mut target: Vec<String> = if &caps[1] == "crate::" {
                Vec::new()
            } else {
                let ups = caps[1].len() / "super::".len();
                here[..here.len().saturating_sub(ups)].to_vec()
            };
            target.push(caps[2].to_string());
            if let Some(next) = caps.get(3) {
                target.push(next.as_str().to_string());
            }
            let Some(to) = unit_of(&target) else {
                continue;
            };
            if to != from {
                found
                    .entry((from.clone(), to))
                    .or_default()
                    .insert(file.display().to_string());
            }
        }
    }
    found
}

/// What breaks the direction: imports that run up or across the front doors, and loops
/// between the modules of one floor.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let imports = imports(files);
    let mut broken = Vec::new();
    for ((from, to), by) in &imports {
        let (up, across) = (height(&to.floor), height(&from.floor));
        if up > across || (up == across && from.floor != to.floor) {
            broken.push(format!(
                "{from} imports {to}, which is not below it: {by:?}"
            ));
        }
    }
    // Loops on one floor: `to` reaches back to `from`.
    let edges: BTreeMap<&Unit, Vec<&Unit>> =
        imports.keys().fold(BTreeMap::new(), |mut map, (from, to)| {
            map.entry(from).or_default().push(to);
            map
        });
    let reaches = |start: &Unit, goal: &Unit| {
        let (mut seen, mut stack) = (BTreeSet::new(), vec![start]);
        while let Some(unit) = stack.pop() {
            if unit == goal {
                return true;
            }
            if seen.insert(unit) {
                stack.extend(edges.get(unit).into_iter().flatten().copied());
            }
        }
        false
    };
    for ((from, to), by) in &imports {
        if from.floor == to.floor && reaches(to, from) {
            broken.push(format!(
                "{from} and {to} import each other (a loop): {by:?}"
            ));
        }
    }
    broken
}

fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                out.push((
                    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap()
                        .into(),
                    source,
                ));
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files
}

#[test]
fn every_import_runs_down_the_floors_and_no_front_door_imports_another() {
    let files = sources();
    assert!(files.len() > 100, "src/ was read: {} files", files.len());
    let broken = violations(&files);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    // Every top folder of src/ is on a floor.
    for (file, _) in &files {
        assert!(
            unit_of(&module_path(file)).is_some(),
            "{} is on no floor",
            file.display()
        );
    }
}

#[test]
fn a_planted_upward_import_a_door_to_door_import_and_a_loop_are_each_named() {
    let files = sources();
    let plant = |file: &str, line: &str| -> Vec<String> {
        let mut planted = files.clone();
        let (_, source) = planted
            .iter_mut()
            .find(|(path, _)| path == Path::new(file))
            .unwrap_or_else(|| panic!("{file} exists"));
        source.push_str(line);
        violations(&planted)
    };
    // The ledger reaching for a page.
    let up = plant(
        "src/domain/ledger/mod.rs",
        "\nuse crate::http::page::see_other;\n",
    );
    assert!(
        up.iter()
            .any(|v| v.starts_with("domain::ledger imports http")),
        "{up:?}"
    );
    // From a submodule, by `super::`.
    let up = plant(
        "src/services/sms/pricing.rs",
        "\nfn f() { super::super::super::web::health::live(); }\n",
    );
    assert!(
        up.iter()
            .any(|v| v.starts_with("services::sms imports web")),
        "{up:?}"
    );
    // One front door using another.
    let across = plant("src/odoo/iap.rs", "\nuse crate::api::answers::Balances;\n");
    assert!(
        across.iter().any(|v| v.starts_with("odoo imports api")),
        "{across:?}"
    );
    // Two modules of one floor importing each other.
    let circle = plant(
        "src/domain/ledger/entries.rs",
        "\nuse crate::domain::orders::Order;\n",
    );
    assert!(
        circle.iter().any(|v| v.contains("import each other")),
        "{circle:?}"
    );
}
