//! Pod templates for `customTemplateAdapter` (spec §7.1): parsing, sources, validation.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplate;

use crate::AdapterError;

/// Prefix of the runtime properties that configure pod templates.
pub const POD_TEMPLATE_PROPERTY_PREFIX: &str = "druid.indexer.runner.k8s.podTemplate.";

/// Key of the mandatory fallback template.
pub const BASE_TEMPLATE_KEY: &str = "base";

/// Where pod templates come from. [`TemplateSource::load`] is called for **every** task (lazy
/// loading: an edited file takes effect for the next task without a restart).
///
/// This crate has the in-memory [`InMemoryTemplateSource`]; the file-backed source (which reads
/// and parses the file on every call) lives in `druid-k8s-runner`.
pub trait TemplateSource {
    /// The configured template keys (the last dot segment of each property name).
    fn keys(&self) -> Vec<String>;

    /// Whether a template is configured under `key` (without loading it).
    fn contains(&self, key: &str) -> bool {
        self.keys().iter().any(|k| k == key)
    }

    /// Where the template for `key` comes from, for messages (a path, or a description).
    fn location(&self, key: &str) -> String;

    /// Loads (reads and parses) the template for `key`.
    fn load(&self, key: &str) -> Result<PodTemplate, AdapterError>;
}

/// Parses a `PodTemplate` YAML document. `origin` (a path or description) is used in errors,
/// which carry the parser's line and snippet.
///
/// ```
/// let t = druid_k8s_adapters::parse_pod_template(
///     "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n",
///     "inline",
/// ).unwrap();
/// assert_eq!(t.template.unwrap().spec.unwrap().containers[0].name, "main");
/// ```
pub fn parse_pod_template(yaml: &str, origin: &str) -> Result<PodTemplate, AdapterError> {
    serde_saphyr::from_str::<PodTemplate>(yaml).map_err(|e| AdapterError::TemplateParse {
        origin: origin.to_owned(),
        error: Box::new(e),
    })
}

/// Templates held in memory, parsed once. Useful for tests, for templates that arrive over an
/// API, and as the model for other sources.
#[derive(Debug, Clone, Default)]
pub struct InMemoryTemplateSource {
    templates: BTreeMap<String, PodTemplate>,
}

impl InMemoryTemplateSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a template under `key`.
    pub fn insert(&mut self, key: impl Into<String>, template: PodTemplate) -> &mut Self {
        self.templates.insert(key.into(), template);
        self
    }

    /// Parses `yaml` and adds it under `key`.
    pub fn insert_yaml(&mut self, key: &str, yaml: &str) -> Result<&mut Self, AdapterError> {
        let template = parse_pod_template(yaml, &format!("{POD_TEMPLATE_PROPERTY_PREFIX}{key}"))?;
        Ok(self.insert(key, template))
    }
}

impl TemplateSource for InMemoryTemplateSource {
    fn keys(&self) -> Vec<String> {
        self.templates.keys().cloned().collect()
    }

    fn contains(&self, key: &str) -> bool {
        self.templates.contains_key(key)
    }

    fn location(&self, key: &str) -> String {
        format!("<in-memory template {key}>")
    }

    fn load(&self, key: &str) -> Result<PodTemplate, AdapterError> {
        self.templates
            .get(key)
            .cloned()
            .ok_or_else(|| AdapterError::TemplateNotFound {
                key: key.to_owned(),
            })
    }
}

/// Loads every template once (as Druid does at overlord start-up) and checks that `base`
/// exists and that each template has a pod spec with at least one container. The first failure
/// is returned, naming the property and path.
pub fn validate_all(source: &dyn TemplateSource) -> Result<(), AdapterError> {
    let keys = source.keys();
    if !keys.iter().any(|k| k == BASE_TEMPLATE_KEY) {
        return Err(AdapterError::TemplateInvalid {
            origin: format!("{POD_TEMPLATE_PROPERTY_PREFIX}{BASE_TEMPLATE_KEY}"),
            reason: format!(
                "customTemplateAdapter requires a base pod template to be specified under {POD_TEMPLATE_PROPERTY_PREFIX}{BASE_TEMPLATE_KEY}"
            ),
        });
    }
    for key in keys {
        let loaded = source
            .load(&key)
            .and_then(|t| check_usable(&t, &source.location(&key)));
        if let Err(e) = loaded {
            return Err(AdapterError::TemplateLoad {
                location: source.location(&key),
                key,
                error: Box::new(e),
            });
        }
    }
    Ok(())
}

/// Checks that a template has `template.spec.containers[0]`.
pub(crate) fn check_usable(template: &PodTemplate, origin: &str) -> Result<(), AdapterError> {
    let has_container = template
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .is_some_and(|s| !s.containers.is_empty());
    if has_container {
        Ok(())
    } else {
        Err(AdapterError::TemplateInvalid {
            origin: origin.to_owned(),
            reason: "it has no template.spec.containers (at least one container is needed)"
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "apiVersion: v1\nkind: PodTemplate\nmetadata:\n  name: test\ntemplate:\n  spec:\n    containers:\n      - command:\n          - sleep\n          - \"3600\"\n        image: one\n        name: primary\n";

    #[test]
    fn parses_upstream_base_template() {
        let t = parse_pod_template(BASE, "base.yaml").unwrap();
        let spec = t.template.unwrap().spec.unwrap();
        assert_eq!(spec.containers[0].command.as_ref().unwrap()[1], "3600");
    }

    #[test]
    fn parse_errors_show_origin_and_line() {
        let err = parse_pod_template("template:\n  spec: [unclosed\n", "/etc/t.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/etc/t.yaml"), "{msg}");
        assert!(msg.contains("line") || msg.contains(':'), "{msg}");
        let err = parse_pod_template("kind: Pod\n", "x").unwrap_err();
        assert!(err.to_string().contains("PodTemplate"), "{err}");
    }

    #[test]
    fn validate_all_needs_base_and_containers() {
        let mut source = InMemoryTemplateSource::new();
        source.insert_yaml("other", BASE).unwrap();
        let err = validate_all(&source).unwrap_err();
        assert!(err.to_string().contains("podTemplate.base"), "{err}");

        source.insert_yaml("base", BASE).unwrap();
        validate_all(&source).unwrap();

        source
            .insert_yaml("empty", "template:\n  spec:\n    containers: []\n")
            .unwrap();
        let err = validate_all(&source).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("druid.indexer.runner.k8s.podTemplate.empty"),
            "{msg}"
        );
        assert!(msg.contains("<in-memory template empty>"), "{msg}");
    }

    /// The docs' "Example 2" template writes env values as bare numbers and booleans, which
    /// Druid (Jackson) coerces to strings; they must parse here too.
    #[test]
    fn unquoted_scalars_in_string_fields_are_accepted() {
        let yaml = "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n      env:\n        - name: druid_port\n          value: 8100\n        - name: druid_indexer_task_encapsulatedTask\n          value: true\n      restartPolicy: \"Never\"\n      securityContext:\n        fsGroup: 1000\n";
        let t = parse_pod_template(yaml, "example-2").unwrap();
        let env = t.template.unwrap().spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap();
        assert_eq!(env[0].value.as_deref(), Some("8100"));
        assert_eq!(env[1].value.as_deref(), Some("true"));
    }
}
