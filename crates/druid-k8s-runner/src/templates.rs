//! Pod templates read from files (`druid.indexer.runner.k8s.podTemplate.<key>=<path>`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use druid_k8s_adapters::{AdapterError, TemplateSource, parse_pod_template};
use k8s_openapi::api::core::v1::PodTemplate;

/// A [`TemplateSource`] over files: the file is read and parsed again for every task (Druid's
/// lazy loading), so an edited ConfigMap takes effect for the next task without a restart.
#[derive(Debug, Clone, Default)]
pub struct FileTemplateSource {
    files: BTreeMap<String, PathBuf>,
}

impl FileTemplateSource {
    /// Templates by key (as `RunnerConfig::pod_templates`).
    pub fn new(files: BTreeMap<String, PathBuf>) -> Self {
        FileTemplateSource { files }
    }

    /// Reads and parses every configured file once (for start-up validation); returns the
    /// errors by key.
    pub fn check_all(&self) -> Vec<(String, AdapterError)> {
        self.files
            .keys()
            .filter_map(|k| self.load(k).err().map(|e| (k.clone(), e)))
            .collect()
    }
}

impl TemplateSource for FileTemplateSource {
    fn keys(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    fn contains(&self, key: &str) -> bool {
        self.files.contains_key(key)
    }

    fn location(&self, key: &str) -> String {
        self.files
            .get(key)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("<no template configured for key [{key}]>"))
    }

    fn load(&self, key: &str) -> Result<PodTemplate, AdapterError> {
        let Some(path) = self.files.get(key) else {
            return Err(AdapterError::TemplateNotFound {
                key: key.to_string(),
            });
        };
        let text = std::fs::read_to_string(path).map_err(|e| AdapterError::TemplateIo {
            origin: path.display().to_string(),
            source: e,
        })?;
        parse_pod_template(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    containers:\n    - name: main\n      image: druid:1\n";

    #[test]
    fn rereads_the_file_for_every_load() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.yaml");
        std::fs::write(&base, T1).unwrap();
        let src = FileTemplateSource::new(BTreeMap::from([
            ("base".to_string(), base.clone()),
            ("missing".to_string(), dir.path().join("nope.yaml")),
        ]));
        assert_eq!(src.keys(), ["base", "missing"]);
        assert!(src.contains("base") && !src.contains("other"));
        let image = |t: PodTemplate| {
            t.template.unwrap().spec.unwrap().containers[0]
                .image
                .clone()
                .unwrap()
        };
        assert_eq!(image(src.load("base").unwrap()), "druid:1");
        std::fs::write(&base, T1.replace("druid:1", "druid:2")).unwrap();
        assert_eq!(
            image(src.load("base").unwrap()),
            "druid:2",
            "lazy loading: edits apply"
        );
        let errs = src.check_all();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, "missing");
        assert!(errs[0].1.to_string().contains("nope.yaml"), "{}", errs[0].1);
        assert!(matches!(
            src.load("other"),
            Err(AdapterError::TemplateNotFound { .. })
        ));
        std::fs::write(&base, "template: [").unwrap();
        assert!(src.load("base").is_err());
    }
}
