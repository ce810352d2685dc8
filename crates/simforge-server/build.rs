//! Embeds the dashboard's built assets (`ui/dist/`, committed; see
//! `ui/README.md`) into the binary: generates `$OUT_DIR/ui_assets.rs` with
//! one `include_bytes!` per file, so the server needs no files at run time
//! and no Node.js at build time.

use std::path::{Path, PathBuf};

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, out),
            Ok(t) if t.is_file() => {
                if let (Ok(rel), Ok(abs)) = (path.strip_prefix(root), path.canonicalize()) {
                    let rel = rel
                        .to_string_lossy()
                        .replace(std::path::MAIN_SEPARATOR, "/");
                    out.push((rel, abs));
                }
            }
            _ => {}
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dist = manifest.join("ui").join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &dist, &mut files);
    files.sort();
    for (_, abs) in &files {
        println!("cargo:rerun-if-changed={}", abs.display());
    }
    let mut code = String::from(
        "/// The dashboard's files: (path under `ui/dist/`, bytes), sorted by path.\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    // Paths relative to the crate, resolved when the crate compiles: the
    // generated list is the same for every checkout of the same sources
    // (checkouts sharing a target directory share this file).
    for (rel, _) in &files {
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?}))),\n",
            format!("/ui/dist/{rel}")
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ui_assets.rs");
    std::fs::write(&out, code).expect("writing ui_assets.rs");
}
