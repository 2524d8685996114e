//! ARCHITECTURE.md's layer table holds the code's imports exactly: every
//! arrow between rooms that a file of `src/` draws is in its room's "may
//! import" column, every room the column names is still imported, and no room
//! uses a crate its row says it never uses. The table is read from the page
//! itself, so the page and the code change together or this fails.
//!
//! The reader is a plain text scan, not a Rust parser: it drops comments,
//! strings and char literals, then reads `use` trees (groups, renames, globs,
//! over several lines) and the paths written in code (`crate::…`, `super::…`,
//! a name a `use` brought in, a child module declared with `mod`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

#[test]
fn a_table_that_allows_too_little_or_too_much_is_reported() {
    // Arrange: rows that miss an arrow the code draws, keep one nothing
    // draws any more (a room hiding a module entry among them), forbid a crate
    // a file uses, and a file whose room has no row.
    let page = format!(
        "{TABLE_HEADER}\n|---|---|---|\n\
         | `src/db/` | storage | `domain`, `error`; to be removed: `services::refresh` |\n\
         | `src/html.rs` | escaping | `domain`, `domain::plan` |\n\
         | `src/domain/` | rules | —; never: `diesel` |\n\
         | `src/error.rs` | the error | — |\n"
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
            "use crate::{config::Settings, domain::Plan};\n".to_owned(),
        ),
        (PathBuf::from("src/telemetry.rs"), String::new()),
    ];

    // Act
    let findings = check(&page, &files);

    // Assert
    assert_eq!(
        findings,
        [
            "src/db/mod.rs:2: `db` → `crypto::KeyRing` is not in the \"may import\" column of its row (`crypto` named on line 2)",
            "src/domain/mod.rs:2: `domain` uses the crate `diesel`, which its row says it never uses (named on line 2)",
            "src/html.rs:1: `html` → `config::Settings` is not in the \"may import\" column of its row (`config` named on line 1)",
            "src/telemetry.rs: no row of the layer table names its room `telemetry`",
            "the row of `db` allows `error`, which no file of it imports any more",
            "the row of `db` allows `services::refresh` (to be removed), which no file of it imports any more",
            "the row of `html` allows `domain::plan`, which no file of it imports any more",
            "the row of `html` allows both `domain` and `domain::plan`, which the first already holds",
        ]
    );
}

/// One room's row: where its files are, what it may import, what it never uses.
#[derive(Debug, Default)]
struct Row {
    allowed: Vec<Allowed>,
    never: BTreeSet<String>,
}

#[derive(Debug)]
struct Allowed {
    path: Vec<String>,
    to_be_removed: bool,
}

/// An arrow from one line of a file to a module path of the crate.
#[derive(Debug)]
struct Arrow {
    line: usize,
    target: Vec<String>,
}

#[derive(Debug, Default)]
struct Imports {
    arrows: Vec<Arrow>,
    /// External crates named at the start of a path, with the line.
    crates: Vec<(usize, String)>,
}

fn check(page: &str, files: &[(PathBuf, String)]) -> Vec<String> {
    let mut findings = Vec::new();
    let rows = match read_table(page) {
        Ok(rows) => rows,
        Err(problem) => return vec![problem],
    };
    let mut used: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
    for (path, source) in files {
        let shown = path.display().to_string().replace('\\', "/");
        let room = room_of(&shown);
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
                } else if entry.path.starts_with(&arrow.target) {
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
            entry
                .allowed
                .extend(row.allowed.iter().map(|allowed| Allowed {
                    path: allowed.path.clone(),
                    to_be_removed: allowed.to_be_removed,
                }));
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

/// The module path of a file: `src/services/refresh/mod.rs` and
/// `src/services/refresh.rs` are both `services::refresh`.
fn module_of(path: &str) -> Vec<String> {
    let inside = path.strip_prefix("src/").unwrap_or(path);
    let inside = inside.strip_suffix(".rs").unwrap_or(inside);
    let mut segments: Vec<String> = inside.split('/').map(str::to_owned).collect();
    if matches!(
        segments.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) && !(segments.len() == 1 && segments[0] == "main")
    {
        segments.pop();
    }
    segments
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

/// Every crate-internal path a file names, resolved from where it stands.
fn imports(path: &str, source: &str) -> Imports {
    let tokens = tokenize(&blank_out(source));
    let file_module = module_of(path);
    // `src/main.rs` is the binary: it reaches the library as `tokenwarden::`.
    let crate_name = if file_module == ["main"] {
        "tokenwarden"
    } else {
        "crate"
    };
    let items = walk(&tokens, &file_module);
    let scopes = scopes_of(&items, crate_name);
    let mut found = Imports::default();
    for item in items {
        match item {
            Item::Use { scope, tree } => {
                for (segments, line) in tree {
                    record(&segments, line, &scope, &scopes, crate_name, &mut found);
                }
            }
            Item::Path {
                scope,
                segments,
                line,
            } => record(&segments, line, &scope, &scopes, crate_name, &mut found),
            Item::Mod { .. } => {}
        }
    }
    found
}

/// What a file says about modules, each in the module it stands in (the
/// file's own or an inline `mod x { … }`).
enum Item {
    Mod {
        scope: Vec<String>,
        name: String,
    },
    Use {
        scope: Vec<String>,
        tree: Vec<(Vec<String>, usize)>,
    },
    Path {
        scope: Vec<String>,
        segments: Vec<String>,
        line: usize,
    },
}

fn walk(tokens: &[Token], file_module: &[String]) -> Vec<Item> {
    let mut items = Vec::new();
    let mut stack: Vec<(Vec<String>, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let scope = stack
            .last()
            .map_or(file_module.to_vec(), |(module, _)| module.clone());
        let text = tokens[i].text.as_str();
        match text {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if stack.last().is_some_and(|(_, at)| *at == depth) {
                    stack.pop();
                }
            }
            "mod" if tokens.get(i + 1).is_some_and(|t| is_ident(&t.text)) => {
                let name = tokens[i + 1].text.clone();
                if tokens.get(i + 2).is_some_and(|t| t.text == "{") {
                    let mut module = scope.clone();
                    module.push(name.clone());
                    stack.push((module, depth));
                    depth += 1;
                    items.push(Item::Mod { scope, name });
                    i += 3;
                    continue;
                }
                items.push(Item::Mod { scope, name });
            }
            "use" => {
                let end = (i..tokens.len())
                    .find(|&j| tokens[j].text == ";")
                    .unwrap_or(tokens.len());
                let mut tree = Vec::new();
                use_tree(&tokens[i + 1..end], Vec::new(), &mut tree);
                items.push(Item::Use { scope, tree });
                i = end + 1;
                continue;
            }
            _ if is_ident(text)
                && tokens.get(i + 1).is_some_and(|t| t.text == "::")
                && (i == 0 || tokens[i - 1].text != "::") =>
            {
                let mut segments = vec![text.to_owned()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t.text == "::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(&t.text))
                {
                    segments.push(tokens[j + 1].text.clone());
                    j += 2;
                }
                items.push(Item::Path {
                    scope,
                    segments,
                    line: tokens[i].line,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    items
}

/// For each module of the file, the names it can start a path with: its
/// child modules and what its `use` declarations bring in, each to the
/// absolute path it stands for.
type Scopes = BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>;

fn scopes_of(items: &[Item], crate_name: &str) -> Scopes {
    let mut scopes: Scopes = BTreeMap::new();
    // Child modules first: a `use` may name one declared further down.
    for item in items {
        if let Item::Mod { scope, name } = item {
            let mut module = scope.clone();
            module.push(name.clone());
            scopes
                .entry(scope.clone())
                .or_default()
                .insert(name.clone(), module);
        }
    }
    for item in items {
        let Item::Use { scope, tree } = item else {
            continue;
        };
        for (segments, _) in tree {
            let (name, segments) = match segments.iter().position(|s| s == "as") {
                Some(at) => (segments[at + 1].clone(), segments[..at].to_vec()),
                // `use crate::db::{self}` brings in `db`.
                None => match segments.as_slice() {
                    [.., parent, last] if last == "self" => (parent.clone(), segments.clone()),
                    _ => (
                        segments.last().cloned().unwrap_or_default(),
                        segments.clone(),
                    ),
                },
            };
            if name == "*" || name == "_" {
                continue;
            }
            let names = scopes.get(scope).cloned().unwrap_or_default();
            if let Some(target) = resolve(&segments, scope, &names, crate_name) {
                scopes
                    .entry(scope.clone())
                    .or_default()
                    .insert(name, target);
            }
        }
    }
    scopes
}

/// The absolute module path a path stands for, or `None` when it starts
/// outside the crate (another crate, a local type, `Self`).
fn resolve(
    segments: &[String],
    scope: &[String],
    names: &BTreeMap<String, Vec<String>>,
    crate_name: &str,
) -> Option<Vec<String>> {
    let segments: Vec<&String> = segments
        .iter()
        .take_while(|segment| *segment != "as" && *segment != "*")
        .collect();
    let first = segments.first()?.as_str();
    let mut target: Vec<String>;
    let mut rest = &segments[1..];
    if first == crate_name || first == "$crate" {
        target = Vec::new();
    } else if first == "self" {
        target = scope.to_vec();
    } else if first == "super" {
        target = scope.to_vec();
        target.pop();
        while rest.first().is_some_and(|segment| *segment == "super") {
            target.pop();
            rest = &rest[1..];
        }
    } else if let Some(known) = names.get(first) {
        target = known.clone();
    } else {
        return None;
    }
    for segment in rest {
        if segment.as_str() != "self" {
            target.push((*segment).clone());
        }
    }
    Some(target)
}

fn record(
    segments: &[String],
    line: usize,
    scope: &[String],
    scopes: &Scopes,
    crate_name: &str,
    found: &mut Imports,
) {
    let names = scopes.get(scope).cloned().unwrap_or_default();
    match resolve(segments, scope, &names, crate_name) {
        Some(target) => found.arrows.push(Arrow { line, target }),
        None => {
            if let Some(first) = segments.first() {
                found.crates.push((line, first.clone()));
            }
        }
    }
}

/// Flattens a `use` tree into its leaves, each with the line of its last
/// segment: `a::{b, c::{self, d as e}}` gives `a::b`, `a::c::self`,
/// `a::c::d as e`.
fn use_tree(tokens: &[Token], prefix: Vec<String>, leaves: &mut Vec<(Vec<String>, usize)>) {
    let mut path = prefix.clone();
    let mut line = tokens.first().map_or(0, |t| t.line);
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        match token.text.as_str() {
            "::" => {}
            "{" => {
                let close = matching_brace(tokens, i);
                for part in split_top_level(&tokens[i + 1..close]) {
                    use_tree(part, path.clone(), leaves);
                }
                return;
            }
            "," => {
                leaves.push((std::mem::replace(&mut path, prefix.clone()), line));
            }
            _ => {
                path.push(token.text.clone());
                line = token.line;
            }
        }
        i += 1;
    }
    if path.len() > prefix.len() {
        leaves.push((path, line));
    }
}

fn matching_brace(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (at, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return at;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, token) in tokens.iter().enumerate() {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            "," if depth == 0 => {
                parts.push(&tokens[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts.retain(|part| !part.is_empty());
    parts
}

fn is_ident(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
}

/// Identifiers (with `$crate`), `::`, and every other character alone;
/// whitespace dropped.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                text: chars[start..i].iter().collect(),
                line,
            });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// The source with comments, strings and char literals replaced by spaces,
/// newlines kept, so that lines still count right and no text in them reads
/// as a path.
fn blank_out(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, from: &[char]| {
        out.extend(from.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let end = if c == '/' && next == Some('/') {
            (i..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len())
        } else if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (0, i);
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            j
        } else if !after_ident && (c == 'r' || (c == 'b' && next == Some('r'))) && {
            let from = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[from..].iter().take_while(|&&h| h == '#').count();
            chars.get(from + hashes) == Some(&'"')
        } {
            let from = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[from..].iter().take_while(|&&h| h == '#').count();
            let body = from + hashes + 1;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            (body..chars.len())
                .find(|&j| chars[j..].starts_with(&closing))
                .map_or(chars.len(), |j| j + closing.len())
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            j + 1
        } else if c == '\'' && next == Some('\\') {
            // Past the escaped character, which may be `'` itself.
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            j + 1
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i + 3
        } else {
            out.push(c);
            i += 1;
            continue;
        };
        let end = end.min(chars.len());
        blank(&mut out, &chars[i..end]);
        i = end;
    }
    out
}
