//! The Debian package's files that cannot be checked by installing it (that is
//! `deploy/debian/test.sh`, run by `.ci/run`): its `/etc/njia/njia.toml` loads, runs from the
//! package's places, and shows every key of the README's configuration reference, so a key
//! added to one is added to the other.

use std::collections::BTreeSet;

use njia::config::Config;

use crate::common::repo;

/// Dotted paths of every key and table of `table` (`dispatcher.poll_ms`, `channels.x.allow`).
fn paths(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (k, v) in table {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        if let toml::Value::Table(t) = v {
            paths(t, &path, out);
        }
        out.insert(path);
    }
}

/// The file with its commented-out settings (`# key = …`, `# [section]`) turned back on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|l| {
            let rest = l.strip_prefix("# ").unwrap_or(l);
            let setting = rest.starts_with('[')
                || rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            if l.starts_with("# ") && setting { rest } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_package_config_loads_and_shows_every_key_of_the_reference() {
    let file = repo().join("deploy/debian/njia.toml");
    let config = Config::load(Some(&file)).unwrap_or_else(|e| panic!("{} does not load: {e}", file.display()));
    assert_eq!(config.data_dir, std::path::Path::new("/var/lib/njia"), "the store is systemd's StateDirectory");
    assert_eq!(config.menus_dir, std::path::Path::new("/etc/njia/menus"));
    assert_eq!(config.locales_dir, std::path::Path::new("/etc/njia/locales"));
    assert!(config.listen.ip().is_loopback(), "behind the reverse proxy, on loopback");
    assert!(config.daraja.is_none(), "a fresh install runs in sandbox mode until [daraja] is set");

    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split("\n## Configuration reference\n").nth(1).expect("a Configuration reference section");
    let block = section.split("```toml\n").nth(1).and_then(|b| b.split("\n```").next()).expect("its toml block");
    let mut want = BTreeSet::new();
    paths(&toml::from_str(block).unwrap(), "", &mut want);
    let text = std::fs::read_to_string(&file).unwrap();
    let all: toml::Table = toml::from_str(&uncommented(&text))
        .unwrap_or_else(|e| panic!("{} with its settings uncommented is not TOML: {e}", file.display()));
    let mut got = BTreeSet::new();
    paths(&all, "", &mut got);
    let missing: Vec<&String> = want.difference(&got).collect();
    let extra: Vec<&String> = got.difference(&want).collect();
    assert!(missing.is_empty() && extra.is_empty(), "deploy/debian/njia.toml lacks {missing:?}, has unknown {extra:?}");
}

#[test]
fn the_unit_runs_the_installed_binary_on_the_installed_config() {
    let unit = std::fs::read_to_string(repo().join("deploy/debian/njia.service")).unwrap();
    let build = std::fs::read_to_string(repo().join("deploy/debian/build.sh")).unwrap();
    for line in ["ExecStart=/usr/bin/njia serve --config /etc/njia/njia.toml", "ExecReload=/bin/kill -HUP $MAINPID"] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
    for hardening in ["DynamicUser=yes", "StateDirectory=njia", "ProtectSystem=strict", "NoNewPrivileges=yes"] {
        assert!(unit.lines().any(|l| l == hardening), "the unit lacks {hardening}");
    }
    for installed in
        ["\"$pkg/usr/bin/njia\"", "\"$pkg/etc/njia/njia.toml\"", "\"$pkg/lib/systemd/system/njia.service\""]
    {
        assert!(build.contains(installed), "build.sh does not install {installed}");
    }
}

#[test]
fn the_readme_names_the_package_of_this_version() {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .expect("the package version in Cargo.toml");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let named = format!("sudo dpkg -i target/debian/njia_{version}_amd64.deb");
    assert!(readme.contains(&named), "the README must install the package build.sh makes: {named}");
}
