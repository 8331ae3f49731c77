//! End to end with the registry's other clients: Debian's `docker-registry` trusting
//! Berth's token server, and podman (login, push, pull), buildah (a push of an image it
//! built), oras-py (an artifact pushed and pulled) and containerd (`ctr images pull`
//! against a daemon the test starts), each in a temp folder of its own, through the shared
//! harness (`berth_test_support::registry` and `berth_test_support::clients`).

use berth::tokens::Scope;
use berth_test_support::clients::*;
use berth_test_support::registry::*;
use berth_test_support::*;

/// A server and a registry, with every program these tests drive present.
async fn server_and_registry() -> (TestApp, Registry) {
    require_programs();
    require(&CONTAINER_PROGRAMS);
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    (app, registry)
}

// ---------------------------------------------------------------------------------------
// podman

#[actix_web::test]
async fn podman_logs_in_with_a_pat_pushes_and_pulls_and_is_refused_a_wrong_secret_a_2fa_password_and_a_deactivated_pat() {
    let (app, registry) = server_and_registry().await;
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Write, "podman");
    let creds = format!("alice:{token}");
    let podman = Containers::new(&registry);

    let out = podman.podman_login(&registry, "alice", &token).await;
    out.assert_ok("podman login with a PAT");
    assert!(out.stdout.contains("Login Succeeded!"), "{}", out.describe());
    let auth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(podman.auth_file()).unwrap()).unwrap();
    assert!(auth["auths"][registry.host()]["auth"].is_string(), "podman login keeps the credentials in its auth file: {auth}");

    // an image into podman's storage: a tarball of files imported, named for the registry
    let tarball = podman.dir.path().join("files.tar");
    std::fs::write(&tarball, one_file_tar("hello.txt", b"hello from podman\n")).unwrap();
    let image = format!("{}/alice/podman:1", registry.host());
    let args = strings(&["import", "--os", "linux", "--arch", "amd64", &tarball.display().to_string(), &image]);
    podman.podman(&args, None).await.assert_ok("podman import");

    // push and pull with the credentials of the login (no --creds)
    let out = podman.podman_transfer("push", &image, &[]).await;
    out.assert_ok("podman push after podman login");
    assert_eq!(recorded_public(&app, "alice/podman"), Some(false), "the push records the repository, private");
    let pushed = registry_digest(&registry, "alice/podman:1", &creds).await;
    assert!(holds_file(&files_in_image(&registry, "alice/podman:1", &creds).await, "hello.txt", b"hello from podman\n"), "the pushed image holds the file");
    podman.podman(&strings(&["rmi", "--all", "--force"]), None).await.assert_ok("podman rmi --all");
    let out = podman.podman_transfer("pull", &image, &[]).await;
    out.assert_ok("podman pull after podman login");
    let out = podman.podman_inspect(&image, "{{.Digest}}").await;
    out.assert_ok("podman image inspect");
    assert_eq!(out.stdout.trim(), pushed, "podman pulled the manifest the registry serves");

    // logged out, the private repository is not pulled
    podman.podman(&strings(&["logout", "--authfile", &podman.auth_file(), &registry.host()]), None).await.assert_ok("podman logout");
    podman.podman(&strings(&["rmi", "--all", "--force"]), None).await.assert_ok("podman rmi --all");
    let out = podman.podman_transfer("pull", &image, &[]).await;
    out.assert_failed("an anonymous podman pull of a private repository");
    assert!(out.stderr.contains("denied: requested access to the resource is denied"), "{}", out.describe());

    // a wrong secret, the password of a 2FA account, a deactivated PAT: podman says the
    // same for each, in its own words (the docker CLI prints the registry's reason)
    let refused = format!("Error: logging into \"{}\": invalid username/password", registry.host());
    let out = podman.podman_login(&registry, "alice", "not the password").await;
    out.assert_failed("podman login with a wrong password");
    assert!(out.stderr.contains(&refused), "{}", out.describe());
    app.with_2fa("carol").await;
    let out = podman.podman_login(&registry, "carol", PASSWORD).await;
    out.assert_failed("podman login with the password of a 2FA user");
    assert!(out.stderr.contains(&refused), "{}", out.describe());
    // Berth's reason reaches podman, which shows it at the debug level only
    let out = podman.podman_login_with(&["--log-level=debug"], &registry, "carol", PASSWORD).await;
    out.assert_failed("podman --log-level=debug login with the password of a 2FA user");
    assert!(out.stderr.contains("unable to retrieve auth token: invalid username/password: unauthorized: please use personal access token to login"), "{}", out.describe());
    assert!(out.stderr.contains(&refused), "{}", out.describe());
    assert!(!std::fs::read_to_string(podman.auth_file()).unwrap().contains(&registry.host()), "a refused login stores nothing");
    let uuid = token_named(&app, "alice", "podman").uuid;
    berth::tokens::update(&mut app.conn(), app.user("alice").id, &uuid, None, Some(false), &Default::default(), app.state.now()).unwrap();
    let out = podman.podman_login(&registry, "alice", &token).await;
    out.assert_failed("podman login with a deactivated PAT");
    assert!(out.stderr.contains(&refused), "{}", out.describe());
    let out = podman.podman_login_with(&["--log-level=debug"], &registry, "alice", &token).await;
    assert!(out.stderr.contains("unauthorized: access token is deactivated"), "{}", out.describe());
    let out = podman.podman_login(&registry, "carol", &pat(&app, "carol", Scope::Read, "laptop")).await;
    out.assert_ok("podman login of a 2FA user with a PAT");

    podman.remove();
}

// ---------------------------------------------------------------------------------------
// buildah

#[actix_web::test]
async fn buildah_pushes_an_image_it_built_with_a_pat_and_a_read_only_pat_is_denied() {
    let (app, registry) = server_and_registry().await;
    app.signed_up("alice").await;
    let write = format!("alice:{}", pat(&app, "alice", Scope::Write, "buildah"));
    let read = format!("alice:{}", pat(&app, "alice", Scope::Read, "read"));
    let buildah = Containers::new(&registry);
    buildah.buildah_build("localhost/built", "built.txt", b"built by buildah\n").await;

    let destination = format!("{}/alice/built:1", registry.host());
    let out = buildah.buildah_push("localhost/built", &destination, &strings(&["--creds", &read])).await;
    out.assert_failed("buildah push with a Read-only PAT");
    assert!(out.stderr.contains("denied: requested access to the resource is denied"), "{}", out.describe());
    assert_eq!(recorded_public(&app, "alice/built"), None, "a refused push records nothing");

    let digestfile = buildah.dir.path().join("digest");
    let out = buildah.buildah_push("localhost/built", &destination, &strings(&["--creds", &write, "--digestfile", &digestfile.display().to_string()])).await;
    out.assert_ok("buildah push with a Read & Write PAT");
    assert_eq!(recorded_public(&app, "alice/built"), Some(false), "the push records the repository, private");
    let pushed = std::fs::read_to_string(&digestfile).unwrap();
    assert_eq!(registry_digest(&registry, "alice/built:1", &read).await, pushed.trim(), "the registry serves what buildah pushed");
    let files = files_in_image(&registry, "alice/built:1", &read).await;
    assert!(holds_file(&files, "built.txt", b"built by buildah\n"), "the image holds the copied file: {:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());

    buildah.remove();
}

// ---------------------------------------------------------------------------------------
// oras-py

#[actix_web::test]
async fn oras_pushes_an_artifact_with_a_token_asked_for_push_up_front_and_pulls_it_back() {
    let (app, registry) = server_and_registry().await;
    require_oras().await;
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Write, "oras");
    let home = tempfile::tempdir().unwrap();
    let artifact = home.path().join("artifact.txt");
    std::fs::write(&artifact, "an artifact, not an image\n").unwrap();

    // oras's plain push keeps the pull-only token of its first HEAD for the upload, and
    // Berth grants no more than was asked for: refused, nothing written
    let out = oras("push-as-is", &registry, "alice/artifact:1", &artifact, "alice", &token, home.path()).await;
    out.assert_failed("oras-py's own push");
    assert!(out.stdout.contains(&format!("oras {ORAS_VERSION}")), "{}", out.describe());
    assert!(out.stderr.contains("Issue retrieving session url") && out.stderr.contains("'Action': 'push'"), "the upload wanted push\n{}", out.describe());
    assert_eq!(recorded_public(&app, "alice/artifact"), None, "the refused push records nothing");
    // what oras asked for first, Berth grants exactly, though the PAT may push
    let first = registry_token(&app.url, "alice", &token, "repository:alice/artifact:pull").await;
    assert_eq!(jwt_claims(&first)["access"], serde_json::json!([{"type": "repository", "name": "alice/artifact", "actions": ["pull"]}]));

    // with a token asked for pull and push up front: pushed
    let out = oras("push", &registry, "alice/artifact:1", &artifact, "alice", &token, home.path()).await;
    out.assert_ok("oras-py push with a token asked for push up front");
    assert!(out.stdout.contains("pushed"), "{}", out.describe());
    assert_eq!(recorded_public(&app, "alice/artifact"), Some(false), "the push records the repository, private");

    // pulled back, with the same PAT (oras asks for pull only, which it gets)
    let outdir = home.path().join("pulled");
    let out = oras("pull", &registry, "alice/artifact:1", &outdir, "alice", &token, home.path()).await;
    out.assert_ok("oras-py pull");
    assert_eq!(std::fs::read_to_string(outdir.join("artifact.txt")).unwrap(), "an artifact, not an image\n", "{}", out.describe());

    // another user's token pulls nothing of alice's private repository
    app.signed_up("bobby").await;
    let bob = pat(&app, "bobby", Scope::Read, "oras");
    let out = oras("pull", &registry, "alice/artifact:1", &home.path().join("bob"), "bobby", &bob, home.path()).await;
    out.assert_failed("bob's oras-py pull of alice's private artifact");
    assert!(!home.path().join("bob/artifact.txt").exists());
}

// ---------------------------------------------------------------------------------------
// containerd

#[actix_web::test]
async fn ctr_pulls_into_a_containerd_daemon_with_a_pat_and_is_refused_with_a_wrong_one() {
    let (app, registry) = server_and_registry().await;
    app.signed_up("alice").await;
    let admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let read = format!("alice:{}", pat(&app, "alice", Scope::Read, "containerd"));
    let clients = Clients::new();
    let layout = clients.dir.path().join("image");
    build_image(&layout, "hello from containerd\n");
    clients.push(&layout, &registry, "alice/app:1", &admin).await.assert_ok("alice pushes alice/app:1");
    let pushed = registry_digest(&registry, "alice/app:1", &admin).await;

    let containerd = Containerd::start().await;
    let image = format!("{}/alice/app:1", registry.host());
    let unknown = format!("alice:{}", berth::tokens::PlainToken::generate().expose());
    let out = containerd.ctr(&strings(&["images", "pull", "--plain-http", "--user", &unknown, &image])).await;
    out.assert_failed("ctr pull with an unknown token");
    assert!(out.stderr.contains("failed to fetch oauth token: unexpected status: 401 Unauthorized"), "{}", out.describe());

    let out = containerd.ctr(&strings(&["images", "pull", "--plain-http", "--user", &read, &image])).await;
    out.assert_ok("ctr pull with a Read-only PAT");
    let out = containerd.ctr(&strings(&["images", "ls"])).await;
    out.assert_ok("ctr images ls");
    let listed = out.stdout.lines().find(|l| l.starts_with(&image)).unwrap_or_else(|| panic!("the pulled image is listed\n{}", out.describe()));
    assert!(listed.contains(&pushed), "containerd holds the manifest the registry serves ({pushed}): {listed}");
    let out = containerd.ctr(&strings(&["snapshots", "ls"])).await;
    out.assert_ok("ctr snapshots ls");
    assert!(out.stdout.lines().any(|l| l.contains("Committed")), "the image was unpacked into a snapshot\n{}", out.describe());
    containerd.remove();
}
