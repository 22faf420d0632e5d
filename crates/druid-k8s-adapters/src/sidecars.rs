//! Sidecar handling for `overlordMultiContainer` (spec §6): the kubexit rewrite Druid uses, and
//! native Kubernetes sidecars (`SidecarMode::Native`, Kubernetes ≥ 1.29) as an alternative.

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, PodSpec, Volume, VolumeMount,
};

use crate::AdapterError;
use crate::java::escape_java;

/// Name of the in-memory volume where kubexit writes tombstones.
pub const GRAVEYARD_VOLUME: &str = "graveyard";
/// Mount path of the graveyard volume.
pub const GRAVEYARD_PATH: &str = "/graveyard";
/// Name of the volume the kubexit binary is copied into.
pub const KUBEXIT_VOLUME: &str = "kubexit";
/// Mount path of the kubexit volume.
pub const KUBEXIT_PATH: &str = "/kubexit";
/// Name of the init container that copies the kubexit binary.
pub const KUBEXIT_INIT_CONTAINER: &str = "kubexit";

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..Default::default()
    }
}

fn mount(path: &str, name: &str) -> VolumeMount {
    VolumeMount {
        mount_path: path.to_owned(),
        name: name.to_owned(),
        ..Default::default()
    }
}

fn wrap(args: &str, or_true: bool) -> Vec<String> {
    let suffix = if or_true { " || true" } else { "" };
    vec![format!(
        "/kubexit/kubexit /bin/sh -c \"{}\"{suffix}",
        escape_java(args)
    )]
}

/// Applies Druid's kubexit rewrite to a pod spec whose container 0 is the prepared `main`
/// container: adds the `graveyard` and `kubexit` volumes, kubexit env and mounts on every
/// container, wraps every command in `/kubexit/kubexit /bin/sh -c "…"` (sidecars with
/// `|| true`), and appends the `kubexit` init container with `kubexit_image`.
///
/// Every sidecar must have an explicit `command`: its image entrypoint cannot be wrapped.
pub fn apply_kubexit(spec: &mut PodSpec, kubexit_image: &str) -> Result<(), AdapterError> {
    // Check every sidecar before changing anything.
    if let Some(sidecar) = spec
        .containers
        .iter()
        .skip(1)
        .find(|c| c.command.as_ref().is_none_or(Vec::is_empty))
    {
        return Err(AdapterError::SidecarWithoutCommand {
            container: sidecar.name.clone(),
        });
    }
    let main_name = spec
        .containers
        .first()
        .map(|c| c.name.clone())
        .ok_or(AdapterError::NoContainers)?;

    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    volumes.push(Volume {
        name: GRAVEYARD_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    });
    volumes.push(Volume {
        name: KUBEXIT_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    });

    for (i, container) in spec.containers.iter_mut().enumerate() {
        let env = container.env.get_or_insert_with(Vec::new);
        env.push(self::env("KUBEXIT_NAME", &container.name));
        env.push(self::env("KUBEXIT_GRAVEYARD", GRAVEYARD_PATH));
        if i > 0 {
            env.push(self::env("KUBEXIT_DEATH_DEPS", &main_name));
        }
        let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
        mounts.push(mount(GRAVEYARD_PATH, GRAVEYARD_VOLUME));
        mounts.push(mount(KUBEXIT_PATH, KUBEXIT_VOLUME));

        let args = container.args.take().unwrap_or_default();
        let joined = if i == 0 {
            // The primary's command (`sh -c`) is dropped; only its args are wrapped.
            args.join(" ")
        } else {
            let mut words = container.command.take().unwrap_or_default();
            words.extend(args);
            words.join(" ")
        };
        container.command = Some(vec!["/bin/sh".to_owned(), "-c".to_owned()]);
        container.args = Some(wrap(&joined, i > 0));
    }

    spec.init_containers
        .get_or_insert_with(Vec::new)
        .push(Container {
            name: KUBEXIT_INIT_CONTAINER.to_owned(),
            image: Some(kubexit_image.to_owned()),
            command: Some(vec![
                "cp".to_owned(),
                "/bin/kubexit".to_owned(),
                "/kubexit/kubexit".to_owned(),
            ]),
            volume_mounts: Some(vec![mount(KUBEXIT_PATH, KUBEXIT_VOLUME)]),
            ..Default::default()
        });
    Ok(())
}

/// Moves every sidecar (containers after `main`) to the end of `initContainers` with
/// `restartPolicy: Always`, which makes them native sidecars (Kubernetes ≥ 1.29): they start
/// before `main` and are stopped by the kubelet once `main` exits, so the Job completes without
/// kubexit, and sidecars keep their image entrypoint.
pub fn apply_native_sidecars(spec: &mut PodSpec) {
    if spec.containers.len() <= 1 {
        return;
    }
    let sidecars: Vec<Container> = spec.containers.drain(1..).collect();
    let init = spec.init_containers.get_or_insert_with(Vec::new);
    init.extend(sidecars.into_iter().map(|mut c| {
        c.restart_policy = Some("Always".to_owned());
        c
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, command: Option<&[&str]>, args: &[&str]) -> Container {
        Container {
            name: name.to_owned(),
            command: command.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
            args: if args.is_empty() {
                None
            } else {
                Some(args.iter().map(|s| (*s).to_owned()).collect())
            },
            ..Default::default()
        }
    }

    #[test]
    fn kubexit_rewrite() {
        let mut spec = PodSpec {
            containers: vec![
                container("main", Some(&["sh", "-c"]), &["/peon.sh --taskId \"x\""]),
                container("sidecar", Some(&["/bin/sidekick"]), &["-a=1", "-b=2"]),
            ],
            ..Default::default()
        };
        apply_kubexit(&mut spec, "img").unwrap();
        let main = &spec.containers[0];
        assert_eq!(
            main.command.as_deref(),
            Some(&["/bin/sh".to_owned(), "-c".to_owned()][..])
        );
        assert_eq!(
            main.args.as_ref().unwrap()[0],
            r#"/kubexit/kubexit /bin/sh -c "/peon.sh --taskId \"x\"""#
        );
        let side = &spec.containers[1];
        assert_eq!(
            side.args.as_ref().unwrap()[0],
            r#"/kubexit/kubexit /bin/sh -c "/bin/sidekick -a=1 -b=2" || true"#
        );
        let deps: Vec<_> = side
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            deps,
            ["KUBEXIT_NAME", "KUBEXIT_GRAVEYARD", "KUBEXIT_DEATH_DEPS"]
        );
        assert_eq!(
            spec.init_containers.as_ref().unwrap()[0].image.as_deref(),
            Some("img")
        );
        assert_eq!(spec.volumes.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn sidecar_without_command_is_named() {
        for command in [None, Some(&[][..])] {
            let mut spec = PodSpec {
                containers: vec![
                    container("main", Some(&["sh", "-c"]), &["x"]),
                    container("istio-proxy", command, &["proxy"]),
                ],
                ..Default::default()
            };
            let before = spec.clone();
            let err = apply_kubexit(&mut spec, "img").unwrap_err();
            assert!(err.to_string().contains("istio-proxy"), "{err}");
            assert_eq!(spec, before, "nothing is changed on error");
        }
    }

    #[test]
    fn native_sidecars_follow_existing_init_containers() {
        let mut spec = PodSpec {
            containers: vec![
                container("main", Some(&["sh"]), &[]),
                container("a", None, &[]),
                container("b", None, &[]),
            ],
            init_containers: Some(vec![container("setup", None, &[])]),
            ..Default::default()
        };
        apply_native_sidecars(&mut spec);
        assert_eq!(spec.containers.len(), 1);
        let init: Vec<_> = spec
            .init_containers
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.restart_policy))
            .collect();
        assert_eq!(
            init,
            [
                ("setup".to_owned(), None),
                ("a".to_owned(), Some("Always".to_owned())),
                ("b".to_owned(), Some("Always".to_owned()))
            ]
        );
    }
}
