//! A designed system as deployment skeletons: a docker-compose file and
//! Kubernetes manifests with one workload per deployable component, replicas
//! and dependencies taken from the design. They are starting points — every
//! image is a placeholder named after its component — so an architect who
//! sized a design with the simulator can hand its shape to whoever deploys
//! it.
//!
//! Mapping: services, stream processors and caches become Deployments;
//! databases and topics, which keep state, StatefulSets with a volume; a load
//! balancer becomes a `LoadBalancer` Service in front of its first target
//! (compose: a proxy container publishing port 8080); sources (the clients)
//! and sinks are not deployed and are listed in a comment.

use std::fmt::Write;

use super::topology::{Kind, Model, Role};

/// The components a component sends requests or messages to, by index:
/// (from, to) pairs, sorted, without duplicates.
pub fn edges(model: &Model) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, c) in model.components.iter().enumerate() {
        match &c.kind {
            Kind::Source(s) => out.extend(s.mix.iter().map(|&(_, _, to)| (i, to))),
            Kind::Balancer { targets, .. } => out.extend(targets.iter().map(|&t| (i, t))),
            Kind::Server(s) => {
                for class in &s.steps {
                    for step in class {
                        out.extend(step.iter().map(|&t| (i, t)));
                    }
                }
                out.extend(s.next.iter().map(|&(_, t)| (i, t)));
            }
            Kind::Cache { miss, .. } => out.extend(miss.iter().map(|&t| (i, t))),
            Kind::Topic(t) => out.push((i, t.consumer)),
            Kind::Sink => {}
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// How a component is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Stateless replicas (services, stream processors, caches).
    Deployment,
    /// Replicas with storage (databases, topics).
    StatefulSet,
    /// A load balancer: a Service in front of its targets.
    Balancer,
    /// Not deployed (sources are the clients; sinks are where paths end).
    None,
}

fn workload(kind: &Kind) -> Workload {
    match kind {
        Kind::Server(s) if s.role == Role::Database => Workload::StatefulSet,
        Kind::Server(_) | Kind::Cache { .. } => Workload::Deployment,
        Kind::Topic(_) => Workload::StatefulSet,
        Kind::Balancer { .. } => Workload::Balancer,
        Kind::Source(_) | Kind::Sink => Workload::None,
    }
}

/// The topology's name of a component's type (`service`, `database`, ...).
pub fn type_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Source(_) => "source",
        Kind::Balancer { .. } => "load_balancer",
        Kind::Server(s) => match s.role {
            Role::Service => "service",
            Role::Database => "database",
            Role::Processor => "stream_processor",
        },
        Kind::Cache { .. } => "cache",
        Kind::Topic(_) => "topic",
        Kind::Sink => "sink",
    }
}

/// Replicas of a deployable component: a server's replicas, a topic's
/// partitions spread over at most three brokers, one otherwise.
fn replicas(kind: &Kind) -> usize {
    match kind {
        Kind::Server(s) => s.replicas.max(1),
        Kind::Topic(t) => t.partitions.clamp(1, 3),
        _ => 1,
    }
}

/// A DNS-1123 label (Kubernetes object and compose service names):
/// lowercase letters, digits and `-`, at most 63 characters.
pub fn dns_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    let s: String = s.chars().take(63).collect();
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() { "component".into() } else { s }
}

/// A YAML double-quoted scalar.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn not_deployed(model: &Model) -> Vec<String> {
    model
        .components
        .iter()
        .filter(|c| workload(&c.kind) == Workload::None)
        .map(|c| format!("{} ({})", c.name, type_name(&c.kind)))
        .collect()
}

/// A docker-compose file for the design named `design`.
pub fn compose(model: &Model, design: &str) -> String {
    let project = dns_name(design);
    let links = edges(model);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# docker-compose skeleton of the `{design}` design, written by simforge from its topology.\n\
         # Every image is a placeholder: put your own. Replicas and dependencies follow the design."
    );
    let skipped = not_deployed(model);
    if !skipped.is_empty() {
        let _ = writeln!(out, "# Not deployed: {}.", skipped.join(", "));
    }
    let _ = writeln!(out, "name: {project}\nservices:");
    let mut volumes = Vec::new();
    for (i, c) in model.components.iter().enumerate() {
        let w = workload(&c.kind);
        if w == Workload::None {
            continue;
        }
        let name = dns_name(&c.name);
        let _ = writeln!(out, "  {name}:");
        let image = if w == Workload::Balancer {
            "nginx:stable".to_string()
        } else {
            format!("{project}/{name}:latest")
        };
        let _ = writeln!(
            out,
            "    image: {}  # {}{}",
            quoted(&image),
            type_name(&c.kind),
            if w == Workload::Balancer {
                ": route to the targets below"
            } else {
                ""
            }
        );
        if w == Workload::Balancer {
            let _ = writeln!(out, "    ports: [\"8080:80\"]");
        } else {
            let _ = writeln!(out, "    deploy: {{replicas: {}}}", replicas(&c.kind));
        }
        let deps: Vec<String> = links
            .iter()
            .filter(|(from, to)| {
                *from == i && workload(&model.components[*to].kind) != Workload::None
            })
            .map(|(_, to)| quoted(&dns_name(&model.components[*to].name)))
            .collect();
        if !deps.is_empty() {
            let _ = writeln!(out, "    depends_on: [{}]", deps.join(", "));
        }
        if w == Workload::StatefulSet {
            let _ = writeln!(out, "    volumes: [\"{name}-data:/var/lib/{name}\"]");
            volumes.push(name);
        }
    }
    if !volumes.is_empty() {
        let _ = writeln!(out, "volumes:");
        for v in volumes {
            let _ = writeln!(out, "  {v}-data: {{}}");
        }
    }
    out
}

/// Kubernetes manifests (one YAML stream) for the design named `design`.
pub fn kubernetes(model: &Model, design: &str) -> String {
    let project = dns_name(design);
    let links = edges(model);
    let mut docs: Vec<String> = Vec::new();
    let mut head = format!(
        "# Kubernetes skeleton of the `{design}` design, written by simforge from its topology.\n\
         # Every image is a placeholder: put your own. Replicas follow the design; requests,\n\
         # limits, probes and configuration are yours to add.\n"
    );
    let skipped = not_deployed(model);
    if !skipped.is_empty() {
        let _ = writeln!(head, "# Not deployed: {}.", skipped.join(", "));
    }
    let labels = |name: &str| {
        format!(
            "{{app: {}, app.kubernetes.io/part-of: {}}}",
            quoted(name),
            quoted(&project)
        )
    };
    for (i, c) in model.components.iter().enumerate() {
        let name = dns_name(&c.name);
        match workload(&c.kind) {
            Workload::None => {}
            Workload::Balancer => {
                let targets: Vec<&str> = links
                    .iter()
                    .filter(|(from, _)| *from == i)
                    .map(|(_, to)| model.components[*to].name.as_str())
                    .collect();
                let first = targets.first().map(|t| dns_name(t)).unwrap_or_default();
                let mut d = format!(
                    "# {} (load_balancer): targets {}; a Service of type LoadBalancer in front of the first.\n",
                    c.name,
                    targets.join(", ")
                );
                let _ = write!(
                    d,
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  labels: {}\nspec:\n  type: LoadBalancer\n  selector: {{app: {}}}\n  ports:\n    - {{name: http, port: 80, targetPort: 8080}}\n",
                    labels(&name),
                    quoted(&first)
                );
                docs.push(d);
            }
            w @ (Workload::Deployment | Workload::StatefulSet) => {
                let kind = if w == Workload::Deployment {
                    "Deployment"
                } else {
                    "StatefulSet"
                };
                let mut d = format!(
                    "# {} ({})\napiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  labels: {}\nspec:\n",
                    c.name,
                    type_name(&c.kind),
                    labels(&name)
                );
                if w == Workload::StatefulSet {
                    let _ = writeln!(d, "  serviceName: {name}");
                }
                let _ = write!(
                    d,
                    "  replicas: {}\n  selector:\n    matchLabels: {{app: {}}}\n  template:\n    metadata:\n      labels: {}\n    spec:\n      containers:\n        - name: {name}\n          image: {}\n          ports:\n            - {{name: main, containerPort: 8080}}\n",
                    replicas(&c.kind),
                    quoted(&name),
                    labels(&name),
                    quoted(&format!("{project}/{name}:latest"))
                );
                if w == Workload::StatefulSet {
                    let _ = write!(
                        d,
                        "          volumeMounts:\n            - {{name: data, mountPath: /var/lib/{name}}}\n  volumeClaimTemplates:\n    - metadata: {{name: data}}\n      spec:\n        accessModes: [ReadWriteOnce]\n        resources: {{requests: {{storage: 10Gi}}}}\n"
                    );
                }
                docs.push(d);
                let mut svc = format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  labels: {}\nspec:\n",
                    labels(&name)
                );
                if w == Workload::StatefulSet {
                    svc.push_str("  clusterIP: None\n");
                }
                let _ = write!(
                    svc,
                    "  selector: {{app: {}}}\n  ports:\n    - {{name: main, port: 8080, targetPort: 8080}}\n",
                    quoted(&name)
                );
                docs.push(svc);
            }
        }
    }
    head + &docs.join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn model(yaml: &str) -> Model {
        let v: Value = serde_saphyr::from_str(yaml).expect("yaml");
        super::super::topology::parse(&v, std::path::Path::new(".")).expect("topology")
    }

    const SHOP: &str = "
name: shop
horizon: 1000
components:
  clients: {type: source, arrivals: {process: poisson, rate: 10}, to: lb}
  lb: {type: load_balancer, targets: [api]}
  api: {type: service, replicas: 5, service_time: {dist: exponential, mean: 5}, calls: [cache, db, events]}
  cache: {type: cache, hit_ratio: 0.8, hit_time: {dist: exponential, mean: 0.5}, miss: db}
  db: {type: database, pool: 8, query_time: {dist: exponential, mean: 3}}
  events: {type: topic, partitions: 6, group_size: 2, consumer: indexer}
  indexer: {type: stream_processor, process_time: {dist: exponential, mean: 1}}
";

    #[test]
    fn edges_follow_every_kind_of_link() {
        let m = model(SHOP);
        let names: Vec<(String, String)> = edges(&m)
            .into_iter()
            .map(|(a, b)| (m.components[a].name.clone(), m.components[b].name.clone()))
            .collect();
        let want = [
            ("clients", "lb"),
            ("lb", "api"),
            ("api", "cache"),
            ("api", "db"),
            ("api", "events"),
            ("cache", "db"),
            ("events", "indexer"),
        ];
        for (a, b) in want {
            assert!(
                names.contains(&(a.into(), b.into())),
                "{a}->{b} in {names:?}"
            );
        }
        assert_eq!(names.len(), want.len(), "{names:?}");
    }

    #[test]
    fn compose_has_one_service_per_deployable_component() {
        let text = compose(&model(SHOP), "Web Shop");
        let doc: Value = serde_saphyr::from_str(&text).expect("valid YAML");
        assert_eq!(doc["name"], "web-shop");
        let services = doc["services"].as_object().expect("services");
        let mut names: Vec<&String> = services.keys().collect();
        names.sort();
        assert_eq!(names, ["api", "cache", "db", "events", "indexer", "lb"]);
        assert_eq!(doc["services"]["api"]["deploy"]["replicas"], 5);
        assert_eq!(doc["services"]["events"]["deploy"]["replicas"], 3);
        assert_eq!(
            doc["services"]["api"]["depends_on"],
            serde_json::json!(["cache", "db", "events"])
        );
        assert!(doc["volumes"]["db-data"].is_object(), "{text}");
        assert!(text.contains("Not deployed: clients (source)"), "{text}");
    }

    #[test]
    fn kubernetes_has_workloads_services_and_a_balancer() {
        let text = kubernetes(&model(SHOP), "shop");
        let docs: Vec<Value> = text
            .split("\n---\n")
            .map(|d| serde_saphyr::from_str(d).expect("each document is YAML"))
            .collect();
        let find = |kind: &str, name: &str| {
            docs.iter()
                .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{kind} {name} in {text}"))
        };
        assert_eq!(find("Deployment", "api")["spec"]["replicas"], 5);
        assert_eq!(find("StatefulSet", "db")["spec"]["serviceName"], "db");
        assert_eq!(find("StatefulSet", "events")["spec"]["replicas"], 3);
        assert_eq!(find("Deployment", "indexer")["spec"]["replicas"], 2);
        assert_eq!(find("Service", "db")["spec"]["clusterIP"], "None");
        let lb = find("Service", "lb");
        assert_eq!(lb["spec"]["type"], "LoadBalancer");
        assert_eq!(lb["spec"]["selector"]["app"], "api");
        let deployment = find("Deployment", "api");
        assert_eq!(
            deployment["spec"]["selector"]["matchLabels"]["app"],
            deployment["spec"]["template"]["metadata"]["labels"]["app"]
        );
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_name("Order_Service"), "order-service");
        assert_eq!(dns_name("--a..b--"), "a-b");
        assert_eq!(dns_name("é"), "component");
        assert_eq!(dns_name(&"x".repeat(80)).len(), 63);
    }
}
