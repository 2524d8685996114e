//! ARCHITECTURE.md's layer table holds the code's imports exactly: every
//! arrow between rooms that a file of `src/` draws is in its room's "may
//! import" column, every room the column names is still imported, and no room
//! uses a crate its row says it never uses. The table is read from the page
//! itself, so the page and the code change together or this fails.

mod reader;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use reader::{Arrow, imports};

const TABLE_HEADER: &str = "| folder or file | what it is | may import |";

#[test]
fn the_layer_table_in_architecture_md_matches_the_imports_of_src() {
    // Arrange: the page and every source file, as they are on disk.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut files = Vec::new();
    collect_sources(&root.join("src"), root, &mut files);
    assert!(
        files.len() > 50,
        "src/ should hold the crate, read {} files",
        files.len()
    );

    // Act
    let findings = check(&page, &files);

    // Assert
    assert!(
        findings.is_empty(),
        "ARCHITECTURE.md's layer table and the imports of src/ differ in {} place(s):\n  {}\n\
         Change the code or the row's \"may import\" column (backticked rooms; an arrow against \
         the layering goes after \"to be removed:\").",
        findings.len(),
        findings.join("\n  ")
    );
}

#[test]
fn a_table_that_allows_too_little_or_too_much_is_reported() {
    // Arrange: rows that miss an arrow the code draws, keep one nothing
    // draws any more (a room hiding a module entry among them), forbid a crate
    // a file uses, a file whose room has no row and a row of no file.
    let page = format!(
        "{TABLE_HEADER}\n|---|---|---|\n\
         | `src/db/` | storage | `domain`, `error`; to be removed: `services::refresh` |\n\
         | `src/html.rs` | escaping | `domain`, `domain::plan` |\n\
         | `src/crypto.rs` | keys | `db::models` |\n\
         | `src/domain/` | rules | —; never: `diesel` |\n\
         | `src/error.rs` | the error | — |\n\
         | `src/gone.rs` | removed | — |\n"
    );
    let files = vec![
        (
            PathBuf::from("src/db/mod.rs"),
            "use crate::domain::Plan;\nuse crate::crypto::KeyRing;\n".to_owned(),
        ),
        (
            PathBuf::from("src/domain/mod.rs"),
            "fn f() {\n    diesel::sql_query(\"\");\n}\n".to_owned(),
        ),
        (PathBuf::from("src/error.rs"), String::new()),
        (
            PathBuf::from("src/html.rs"),
            "use crate::{config::Settings, domain::Plan};\nuse crate::domain::*;\n".to_owned(),
        ),
        (PathBuf::from("src/telemetry.rs"), String::new()),
        // A glob of a room takes all of it, more than the one module allowed.
        (
            PathBuf::from("src/crypto.rs"),
            "use crate::db::models::Account;\nuse crate::db::*;\n".to_owned(),
        ),
    ];

    // Act
    let findings = check(&page, &files);

    // Assert
    assert_eq!(
        findings,
        [
            "src/crypto.rs:2: `crypto` → `db` is not in the \"may import\" column of its row (`db` named on line 2)",
            "src/db/mod.rs:2: `db` → `crypto::KeyRing` is not in the \"may import\" column of its row (`crypto` named on line 2)",
            "src/domain/mod.rs:2: `domain` uses the crate `diesel`, which its row says it never uses (named on line 2)",
            "src/html.rs:1: `html` → `config::Settings` is not in the \"may import\" column of its row (`config` named on line 1)",
            "src/telemetry.rs: no row of the layer table names its room `telemetry`",
            "the layer table has a row for `gone`, which holds no file of src/",
            "the row of `db` allows `error`, which no file of it imports any more",
            "the row of `db` allows `services::refresh` (to be removed), which no file of it imports any more",
            "the row of `html` allows `domain::plan`, which no file of it imports any more",
            "the row of `html` allows both `domain` and `domain::plan`, which the first already holds",
        ]
    );
}

#[test]
fn imports_are_read_from_use_trees_code_paths_and_child_modules() {
    // Arrange: one file with each way of naming another module, and decoys in
    // comments, strings and a nested test module.
    let source = r##"
        //! `use crate::api;` in a doc comment is not an import.
        use std::sync::Arc;
        use crate::{
            db::{self, models::{Account, Brand as B}},
            domain::clock::*,
        };
        pub(crate) use super::health::WorkerHealth;
        mod leader;
        use leader::run;
        /* use crate::sandbox; /* nested */ still a comment */
        fn f<'a>(x: &'a str) -> char {
            let _ = "crate::providers::gone";
            let _ = r#"crate::worker::gone"#;
            db::accounts::find_account();
            crate::providers::http::client();
            diesel::insert_into();
            '"'
        }
        mod tests {
            use super::*;
            use super::super::ready::Ready;
        }
    "##;

    // Act
    let found = imports("src/services/renewal.rs", source);

    // Assert
    let arrows: BTreeSet<(usize, String)> = found
        .arrows
        .iter()
        .map(|arrow| (arrow.line, arrow.target.join("::")))
        .collect();
    let expected: BTreeSet<(usize, String)> = [
        (5, "db"),
        (5, "db::models::Account"),
        (5, "db::models::Brand"),
        (6, "domain::clock"),
        (8, "services::health::WorkerHealth"),
        (10, "services::renewal::leader::run"),
        (15, "db::accounts::find_account"),
        (16, "providers::http::client"),
        (21, "services::renewal"),
        (22, "services::ready::Ready"),
    ]
    .into_iter()
    .map(|(line, path)| (line, path.to_owned()))
    .collect();
    assert_eq!(arrows, expected);
    let crates: BTreeSet<&str> = found.crates.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(crates, BTreeSet::from(["diesel", "std"]));
}

/// What a room's row says: what it may import, which crates it never uses.
#[derive(Debug, Default)]
struct Row {
    allowed: Vec<Allowed>,
    never: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Allowed {
    path: Vec<String>,
    to_be_removed: bool,
}

fn check(page: &str, files: &[(PathBuf, String)]) -> Vec<String> {
    let mut findings = Vec::new();
    let rows = match read_table(page) {
        Ok(rows) => rows,
        Err(problem) => return vec![problem],
    };
    let mut used: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (path, source) in files {
        let shown = path.display().to_string().replace('\\', "/");
        let room = room_of(&shown);
        seen.insert(room.clone());
        let Some(row) = rows.get(&room) else {
            findings.push(format!(
                "{shown}: no row of the layer table names its room `{room}`"
            ));
            continue;
        };
        let found = imports(&shown, source);
        // One finding per file and room it may not import, at its first line.
        let mut refused: BTreeMap<String, Vec<&Arrow>> = BTreeMap::new();
        for arrow in &found.arrows {
            if arrow.target.first() == Some(&room) || arrow.target.is_empty() {
                continue;
            }
            let mut allowed = false;
            for entry in &row.allowed {
                if arrow.target.starts_with(&entry.path) {
                    used.insert((room.clone(), entry.path.clone()));
                    allowed = true;
                } else if !arrow.glob && entry.path.starts_with(&arrow.target) {
                    // `use crate::services;` names only the module; the paths
                    // written through it are arrows of their own.
                    allowed = true;
                }
            }
            if !allowed {
                refused
                    .entry(arrow.target[0].clone())
                    .or_default()
                    .push(arrow);
            }
        }
        for (target, mut arrows) in refused {
            arrows.sort_by_key(|arrow| arrow.line);
            let lines: BTreeSet<usize> = arrows.iter().map(|arrow| arrow.line).collect();
            let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
            findings.push(format!(
                "{shown}:{}: `{room}` → `{}` is not in the \"may import\" column of its row \
                 (`{target}` named on line {})",
                arrows[0].line,
                arrows[0].target.join("::"),
                lines.join(", ")
            ));
        }
        let mut forbidden: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for (line, name) in &found.crates {
            if row.never.contains(name) {
                forbidden.entry(name).or_default().insert(*line);
            }
        }
        for (name, lines) in forbidden {
            let first = lines.first().copied().unwrap_or_default();
            let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
            findings.push(format!(
                "{shown}:{first}: `{room}` uses the crate `{name}`, which its row says it never uses \
                 (named on line {})",
                lines.join(", ")
            ));
        }
    }
    for (room, row) in &rows {
        if !seen.contains(room) {
            findings.push(format!(
                "the layer table has a row for `{room}`, which holds no file of src/"
            ));
        }
        for entry in &row.allowed {
            // A room next to one of its modules would hide a stale module
            // entry (a backticked word in the prose does that too).
            if let Some(wider) = row.allowed.iter().find(|other| {
                other.path.len() < entry.path.len() && entry.path.starts_with(&other.path)
            }) {
                findings.push(format!(
                    "the row of `{room}` allows both `{}` and `{}`, which the first already holds",
                    wider.path.join("::"),
                    entry.path.join("::")
                ));
            }
            if !used.contains(&(room.clone(), entry.path.clone())) {
                findings.push(format!(
                    "the row of `{room}` allows `{}`{}, which no file of it imports any more",
                    entry.path.join("::"),
                    if entry.to_be_removed {
                        " (to be removed)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    findings.sort();
    findings
}

/// The room of a file is its top-level module: `src/services/refresh/leader.rs`
/// is in `services`, `src/state.rs` in `state`; `src/main.rs` (the binary) and
/// `src/lib.rs` (the crate root) are rooms of their own.
fn room_of(path: &str) -> String {
    let inside = path.strip_prefix("src/").unwrap_or(path);
    let first = inside.split('/').next().unwrap_or(inside);
    first.strip_suffix(".rs").unwrap_or(first).to_owned()
}

/// Reads the rows of the table under `TABLE_HEADER`. The first column names
/// the rooms (`src/x/` or `src/x.rs`, backticked); the third lists, in
/// clauses split by `;`, the rooms or module paths the row may import
/// (backticked; `—` or prose for none), the arrows "to be removed:", and the
/// crates it "never:" uses.
fn read_table(page: &str) -> Result<BTreeMap<String, Row>, String> {
    let mut lines = page.lines().skip_while(|line| line.trim() != TABLE_HEADER);
    if lines.next().is_none() {
        return Err(format!(
            "ARCHITECTURE.md has no table headed `{TABLE_HEADER}`"
        ));
    }
    let mut rows = BTreeMap::new();
    for line in lines.skip(1).take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
        let [places, _, may_import] = cells[..] else {
            return Err(format!(
                "a row of the layer table has not three cells: {line}"
            ));
        };
        let mut row = Row::default();
        for clause in may_import.split(';') {
            let clause = clause.trim();
            let names = backticked(clause);
            if clause.starts_with("never") {
                row.never.extend(names);
            } else {
                let to_be_removed = clause.starts_with("to be removed");
                row.allowed.extend(names.into_iter().map(|name| Allowed {
                    path: name.split("::").map(str::to_owned).collect(),
                    to_be_removed,
                }));
            }
        }
        let rooms: BTreeSet<String> = backticked(places)
            .iter()
            .filter(|place| place.starts_with("src/"))
            .map(|place| room_of(place.trim_end_matches('/')))
            .collect();
        if rooms.is_empty() {
            return Err(format!(
                "a row of the layer table names no `src/…` place: {line}"
            ));
        }
        for room in rooms {
            let entry: &mut Row = rows.entry(room).or_default();
            entry.allowed.extend(row.allowed.iter().cloned());
            entry.never.extend(row.never.iter().cloned());
        }
    }
    Ok(rows)
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn collect_sources(dir: &Path, root: &Path, files: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_sources(&path, root, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            files.push((path.strip_prefix(root).unwrap().to_path_buf(), source));
        }
    }
}
