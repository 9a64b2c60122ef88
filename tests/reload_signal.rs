//! SIGHUP reloads menus and locales. A process of its own: the signal reaches every server in
//! the process, which would disturb the other reload tests.

mod common;

use common::editable::{edit, hop, server};

#[tokio::test]
async fn sighup_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    edit(
        &dir.path().join("locales/en/ecitizen.ftl"),
        "home-title = Welcome to e-Citizen",
        "home-title = Karibu, welcome",
    );
    let status = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for i in 0.. {
        // A new number each try: the rate limit would stop one number polling.
        let phone = format!("+2547118{i:05}");
        let session = format!("h-{i}");
        hop(&server, &session, &phone, "").await;
        let home = hop(&server, &session, &phone, "2").await;
        if home.starts_with("CON Karibu, welcome\n") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "SIGHUP did not reload: {home}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.stop().await;
}
