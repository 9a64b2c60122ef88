//! A server on copies of the shipped menus and locales that a test edits, with `[admin]`
//! configured: for the reload tests.

use std::path::Path;

use super::{TestServer, at_hop, config};
use njia::config::{AdminSection, Config, HeaderAuthSection};

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const ADMIN: (&str, &str) = ("X-Njia-Admin", "r3load");

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The test configuration on copies of the shipped menus and locales under `dir` (its store
/// in `dir/data`), which the test edits.
pub fn config_on_copies(dir: &Path) -> Config {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("menus"), &dir.join("menus"));
    copy_dir(&root.join("locales"), &dir.join("locales"));
    let mut c = config(&dir.join("data"));
    c.menus_dir = dir.join("menus");
    c.locales_dir = dir.join("locales");
    // The lookup data beside the copied menus, as serve resolves it by default.
    c.lookups_dir = None;
    c
}

/// A server on copies of the shipped menus and locales, which the test edits.
pub async fn server(dir: &Path) -> TestServer {
    let mut c = config_on_copies(dir);
    c.admin = Some(AdminSection {
        header: Some(HeaderAuthSection { name: ADMIN.0.into(), secret_env: "T_RELOAD_ADMIN".into() }),
        ..AdminSection::default()
    });
    c.secrets.insert("T_RELOAD_ADMIN".into(), ADMIN.1.into());
    TestServer::start(c).await
}

pub async fn hop(server: &TestServer, session: &str, phone: &str, text: &str) -> String {
    server.post_form("/ussd/africastalking", &at_hop(session, phone, "*384#", text)).await.1
}
