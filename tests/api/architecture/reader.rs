//! Which modules of the crate a source file names. A plain text scan, not a
//! Rust parser: it drops comments, strings and char literals, then reads
//! `use` trees (groups, renames, globs, over several lines) and the paths
//! written in code (`crate::…`, `super::…`, a name a `use` brought in, a child
//! module declared with `mod`), each resolved from the module it stands in.

use std::collections::BTreeMap;

/// An arrow from one line of a file to a module path of the crate.
#[derive(Debug)]
pub(super) struct Arrow {
    pub(super) line: usize,
    pub(super) target: Vec<String>,
    /// `use target::*`: everything in it, not only its name.
    pub(super) glob: bool,
}

#[derive(Debug, Default)]
pub(super) struct Imports {
    pub(super) arrows: Vec<Arrow>,
    /// External crates named at the start of a path, with the line.
    pub(super) crates: Vec<(usize, String)>,
}

/// The module path of a file: `src/services/refresh/mod.rs` and
/// `src/services/refresh.rs` are both `services::refresh`.
fn module_of(path: &str) -> Vec<String> {
    let inside = path.strip_prefix("src/").unwrap_or(path);
    let inside = inside.strip_suffix(".rs").unwrap_or(inside);
    let mut segments: Vec<String> = inside.split('/').map(str::to_owned).collect();
    // `src/main.rs` stays `main`: the binary is a room of its own.
    if segments.last().is_some_and(|last| last == "mod") || segments == ["lib"] {
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
pub(super) fn imports(path: &str, source: &str) -> Imports {
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
        Some(target) => found.arrows.push(Arrow {
            line,
            target,
            glob: segments.last().is_some_and(|segment| segment == "*"),
        }),
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
