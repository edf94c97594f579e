//! The README and the book under `docs/` link to each other, to their own
//! headings and to files of the repository. Pages move and headings get
//! renamed; this test is what notices a link left pointing at nothing, and a
//! page written into `docs/src` but never listed in `SUMMARY.md` (mdBook
//! leaves such a page out of the book without a word).
//!
//! No tool and no network: links are read from the Markdown text (outside
//! code), anchors are the slugs GitHub and mdBook give headings.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// What a Markdown file offers and asks for: the anchors of its headings, and
/// the targets of its links.
#[derive(Default)]
struct Page {
    anchors: BTreeSet<String>,
    links: Vec<String>,
}

/// The anchor GitHub and mdBook give a heading: its text without link syntax
/// and code marks, lower case, letters, digits, `-` and `_` kept, spaces as
/// `-`, everything else dropped.
fn slug(heading: &str) -> String {
    let text = strip_link_syntax(heading);
    text.trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().next().unwrap_or(c))
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// `[text](target)` becomes `text`, as a heading's anchor sees it.
fn strip_link_syntax(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("](") {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        out += &rest[..open];
        rest = &rest[open + close + 1..];
    }
    out += rest;
    out.replace('[', "")
}

/// Drops inline code (`` `…` ``) from a paragraph, where a link is text.
fn without_code(paragraph: &str) -> String {
    paragraph
        .split('`')
        .step_by(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads headings and links, skipping fenced code blocks and inline code.
/// Repeated headings get `-1`, `-2`, … as both GitHub and mdBook number them.
fn parse(text: &str) -> Page {
    let mut page = Page::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut fenced = false;
    let mut paragraph = String::new();
    for line in text.lines().chain([""]) {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            links_of(&paragraph, &mut page.links);
            paragraph.clear();
            continue;
        }
        if fenced {
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(&line[hashes..].replace('`', ""));
            let n = seen.entry(base.clone()).or_insert(0);
            page.anchors.insert(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
        if line.trim().is_empty() {
            links_of(&paragraph, &mut page.links);
            paragraph.clear();
        } else {
            paragraph += line;
            paragraph.push('\n');
        }
    }
    page
}

/// The targets of `[text](target)` and `![alt](target)` in a paragraph.
fn links_of(paragraph: &str, links: &mut Vec<String>) {
    let text = without_code(paragraph);
    let mut rest = text.as_str();
    while let Some(open) = rest.find("](") {
        rest = &rest[open + 2..];
        let Some(close) = rest.find(')') else {
            break;
        };
        // A title (`(target "title")`) is not part of the target.
        let target = rest[..close].split_whitespace().next().unwrap_or("");
        links.push(target.to_owned());
        rest = &rest[close..];
    }
}

/// Every Markdown file under `dir`, recursively.
fn markdown_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(markdown_under(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Every problem with the README's and the book's links under `root`, and
/// with the book's `SUMMARY.md`, in words that say where to look.
fn problems(root: &Path) -> Vec<String> {
    let src = root.join("docs/src");
    let mut files = vec![root.join("README.md")];
    files.extend(markdown_under(&src));
    let mut pages = HashMap::new();
    let mut problems = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                pages.insert(file.clone(), parse(&text));
            }
            Err(e) => problems.push(format!("{}: {e}", file.display())),
        }
    }
    for (file, page) in &pages {
        for link in &page.links {
            if let Some(problem) = check_link(file, link, &pages) {
                problems.push(format!("{}: link {link}: {problem}", shown(root, file)));
            }
        }
    }
    problems.extend(summary_problems(&src, &files));
    problems.sort();
    problems
}

/// Why one link leads nowhere, or `None` when it resolves. Links that leave
/// the repository (`https:`, `mailto:`) are not followed.
fn check_link(file: &Path, link: &str, pages: &HashMap<PathBuf, Page>) -> Option<String> {
    if link.contains("://") || link.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = link.split_once('#').unwrap_or((link, ""));
    let target = if path.is_empty() {
        file.to_owned()
    } else {
        normalise(&file.parent()?.join(path))
    };
    if !target.exists() {
        return Some(format!("{} does not exist", target.display()));
    }
    if anchor.is_empty() {
        return None;
    }
    let page = match pages.get(&target) {
        Some(page) => page,
        None if target.extension().is_some_and(|e| e == "md") => {
            return std::fs::read_to_string(&target)
                .ok()
                .filter(|text| parse(text).anchors.contains(anchor))
                .is_none()
                .then(|| {
                    format!(
                        "no heading of {} has the anchor #{anchor}",
                        target.display()
                    )
                });
        }
        None => return Some(format!("#{anchor} points into a file that is not Markdown")),
    };
    (!page.anchors.contains(anchor)).then(|| {
        format!(
            "no heading of {} has the anchor #{anchor} (it has: {})",
            target.display(),
            page.anchors.iter().cloned().collect::<Vec<_>>().join(" ")
        )
    })
}

/// `a/b/../c` as `a/c`, so one file has one name whatever the link's route.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A page missing from `SUMMARY.md` is left out of the book; an entry whose
/// page is missing is an error mdBook reports only at build time.
fn summary_problems(src: &Path, files: &[PathBuf]) -> Vec<String> {
    let summary = src.join("SUMMARY.md");
    let Ok(text) = std::fs::read_to_string(&summary) else {
        return vec![format!("{} is missing", summary.display())];
    };
    let listed: BTreeSet<PathBuf> = parse(&text)
        .links
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| normalise(&src.join(l.split('#').next().unwrap_or(l))))
        .collect();
    let mut problems = Vec::new();
    for entry in &listed {
        if !entry.is_file() {
            problems.push(format!(
                "SUMMARY.md lists {}, which does not exist",
                entry.display()
            ));
        }
    }
    for file in files
        .iter()
        .filter(|f| f.starts_with(src) && **f != summary)
    {
        if !listed.contains(file) {
            problems.push(format!(
                "{} is not listed in SUMMARY.md, so the book leaves it out",
                file.display()
            ));
        }
    }
    problems
}

fn shown(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

#[test]
fn every_link_of_the_readme_and_the_book_resolves_and_every_page_is_in_the_summary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let problems = problems(root);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A small README and book, sound until a test breaks one thing in it.
fn small_book() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "README.md",
        "# Tool\n\nSee [the hop](docs/src/hop.md#which-targets-go-through-a-hop) and [a file](LICENSE).\n\n\
         ```\n[not a link](nowhere.md)\n```\n\nNor is `[this](nowhere.md)`.\n",
    );
    write("LICENSE", "MIT\n");
    write(
        "docs/src/SUMMARY.md",
        "# Summary\n\n- [The hop](hop.md)\n- [Keys](keys.md)\n",
    );
    write(
        "docs/src/hop.md",
        "# Any port through an SSH hop\n\n## Which targets go through a `[[hop]]`?\n\n\
         Keys: [keys](keys.md#keys-ec2-instance-connect), [back](../../README.md#tool).\n",
    );
    write(
        "docs/src/keys.md",
        "# Keys (EC2 Instance Connect)\n\n[Up](#keys-ec2-instance-connect)\n",
    );
    dir
}

#[test]
fn a_sound_small_book_has_no_problem() {
    let book = small_book();
    assert_eq!(problems(book.path()), Vec::<String>::new());
}

#[test]
fn a_link_to_a_missing_file_or_heading_is_reported() {
    let book = small_book();
    let hop = book.path().join("docs/src/hop.md");
    let text = std::fs::read_to_string(&hop).unwrap();
    std::fs::write(&hop, text.replace("## Which targets", "## What targets")).unwrap();
    std::fs::remove_file(book.path().join("LICENSE")).unwrap();
    let problems = problems(book.path());
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("README.md: link LICENSE:"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("no heading")
            && problems[1].contains("#which-targets-go-through-a-hop"),
        "{problems:#?}"
    );
}

#[test]
fn a_page_left_out_of_the_summary_and_an_entry_with_no_page_are_reported() {
    let book = small_book();
    std::fs::write(book.path().join("docs/src/extra.md"), "# Extra\n").unwrap();
    let summary = book.path().join("docs/src/SUMMARY.md");
    let text = std::fs::read_to_string(&summary).unwrap();
    std::fs::write(&summary, text + "- [Gone](gone.md)\n").unwrap();
    let problems = problems(book.path());
    assert!(
        problems
            .iter()
            .any(|p| p.contains("extra.md is not listed in SUMMARY.md")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("SUMMARY.md lists") && p.contains("gone.md")),
        "{problems:#?}"
    );
}
