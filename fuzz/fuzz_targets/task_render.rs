//! Task JSON → `Task` → rendered Job: never a panic.
#![no_main]

use druid_k8s_adapters::{InMemoryTemplateSource, RenderRequest, render};
use druid_k8s_model::Task;
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    restartPolicy: Never\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(task) = Task::from_json(text) else {
        return;
    };
    let raw = RawConfig::from_properties(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base=/t/base.yaml\n\
         druid.indexer.task.encapsulatedTask=true\n",
    )
    .expect("fixed properties parse");
    let cfg = RunnerConfig::from_raw(&raw).expect("fixed config is valid");
    let mut templates = InMemoryTemplateSource::new();
    templates
        .insert_yaml("base", TEMPLATE)
        .expect("fixed template parses");
    let _ = render(&RenderRequest::new(&cfg, &task).with_templates(&templates));
});
