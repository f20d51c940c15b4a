//! The mock cluster's state: objects stored generically as JSON (keyed by resource plural,
//! namespace and name) so tests and faults can edit any field, pod logs, the accepted
//! bearer tokens and the RBAC denials. One global `resourceVersion` counter, as etcd's
//! revision: every write bumps it and stamps the object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde_json::{Value, json};

use super::resources::{self, ResourceType};
use super::status::{KubeError, Target};
use crate::clock::Clock;

/// `(namespace, name)`; the namespace is `""` for cluster-scoped objects.
type Key = (String, String);

/// An RBAC denial: `verb` (None: every verb) on `resource` (plural) in `namespace` (None:
/// every namespace and the cluster scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub verb: Option<String>,
    pub resource: String,
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ContainerLogs {
    current: String,
    /// The log of the previous (terminated) instance, for `?previous=true`.
    previous: Option<String>,
}

/// The mock cluster. Every method that changes an object bumps the resourceVersion.
#[derive(Debug)]
pub struct KubeState {
    pub clock: Arc<Clock>,
    objects: RwLock<BTreeMap<&'static str, BTreeMap<Key, Value>>>,
    /// `(namespace, pod, container)` -> logs.
    logs: RwLock<BTreeMap<(String, String, String), ContainerLogs>>,
    /// bearer token -> user name.
    tokens: RwLock<BTreeMap<String, String>>,
    denials: RwLock<Vec<Denial>>,
    /// Every `(verb, API group, resource[/subresource])` requested so far, allowed or not:
    /// what a client needs RBAC for.
    accesses: RwLock<BTreeSet<(String, String, String)>>,
    /// `(major, minor)` answered by `/version`.
    version: RwLock<(String, String)>,
    revision: AtomicU64,
    /// The OIDC issuer service account tokens come from, and the registry holding its
    /// key (`token.rs`); None until a cluster is seeded.
    pub(super) sa_issuer: RwLock<Option<(String, Arc<crate::web_identity::OidcIssuers>)>>,
    /// Where the mock's pods find STS (`AWS_ENDPOINT_URL_STS`, set with the IRSA env by the
    /// pod identity webhook): the mock STS, since a real one is out of reach.
    pub(super) sts_endpoint: RwLock<Option<String>>,
    /// Whether a service account has an EKS pod identity association (`pod_identity.rs`).
    pub(super) pod_identity: RwLock<Option<super::pod_identity::PodIdentitySource>>,
}

impl KubeState {
    /// The STS endpoint pods created from now on are given with their IRSA env.
    pub fn set_sts_endpoint(&self, url: &str) {
        *self.sts_endpoint.write().unwrap() = Some(url.to_string());
    }

    pub fn new(clock: Arc<Clock>) -> Self {
        Self {
            clock,
            objects: RwLock::new(BTreeMap::new()),
            logs: RwLock::new(BTreeMap::new()),
            tokens: RwLock::new(BTreeMap::new()),
            denials: RwLock::new(Vec::new()),
            accesses: RwLock::new(BTreeSet::new()),
            version: RwLock::new(("1".to_string(), "30".to_string())),
            revision: AtomicU64::new(1000),
            sa_issuer: RwLock::new(None),
            sts_endpoint: RwLock::new(None),
            pod_identity: RwLock::new(None),
        }
    }

    // --- identity and access ---

    /// Makes a fresh bearer token for `user` and returns it.
    pub fn issue_token(&self, user: &str) -> String {
        let token = format!(
            "pipecheck-{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.add_token(&token, user);
        token
    }

    pub fn add_token(&self, token: &str, user: &str) {
        self.tokens
            .write()
            .unwrap()
            .insert(token.to_string(), user.to_string());
    }

    /// Later requests with this token get 401.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.tokens.write().unwrap().remove(token).is_some()
    }

    pub fn user_for_token(&self, token: &str) -> Option<String> {
        self.tokens.read().unwrap().get(token).cloned()
    }

    /// Denies `verb` (None: all) on `resource` (plural) in `namespace` (None: everywhere)
    /// to every user: requests get 403 Forbidden as RBAC answers.
    pub fn deny(&self, verb: Option<&str>, resource: &str, namespace: Option<&str>) {
        self.denials.write().unwrap().push(Denial {
            verb: verb.map(str::to_string),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
        });
    }

    pub fn clear_denials(&self) {
        self.denials.write().unwrap().clear();
    }

    /// Notes that `verb` on `resource` (`pods/log` for a subresource) of API `group` was
    /// requested.
    pub(crate) fn record_access(&self, verb: &str, group: &str, resource: &str) {
        self.accesses.write().unwrap().insert((
            verb.to_string(),
            group.to_string(),
            resource.to_string(),
        ));
    }

    /// Every `(verb, API group, resource[/subresource])` requested so far, in order.
    pub fn accesses(&self) -> Vec<(String, String, String)> {
        self.accesses.read().unwrap().iter().cloned().collect()
    }

    pub(crate) fn check_access(
        &self,
        user: &str,
        verb: &'static str,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), KubeError> {
        let denied = self.denials.read().unwrap().iter().any(|d| {
            d.resource == rt.plural
                && d.verb.as_deref().is_none_or(|v| v == verb)
                && d.namespace.as_deref().is_none_or(|n| Some(n) == namespace)
        });
        if denied {
            return Err(KubeError::Forbidden {
                user: user.to_string(),
                verb,
                target: Target::new(rt, namespace, name),
            });
        }
        Ok(())
    }

    // --- version ---

    /// What `/version` answers, e.g. `("1", "30")`.
    pub(crate) fn set_version(&self, major: &str, minor: &str) {
        *self.version.write().unwrap() = (major.to_string(), minor.to_string());
    }

    pub fn version(&self) -> (String, String) {
        self.version.read().unwrap().clone()
    }

    /// The current revision: the `resourceVersion` of lists.
    pub fn resource_version(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    fn next_revision(&self) -> String {
        (self.revision.fetch_add(1, Ordering::SeqCst) + 1).to_string()
    }

    // --- objects ---

    /// Stores `obj` under `resource` (plural), replacing any object of the same namespace
    /// and name, without the API's checks: the way tests and faults shape the cluster.
    /// Fills `kind`, `apiVersion`, `uid` and `creationTimestamp` when missing and stamps a
    /// new `resourceVersion`. Returns the stored object.
    pub fn put(&self, resource: &str, mut obj: Value) -> Result<Value, KubeError> {
        let rt = resources::by_plural(resource).ok_or(KubeError::NoSuchPath)?;
        let (ns, name) = key_of(rt, &obj)?;
        self.complete(rt, &mut obj, &ns);
        let key = (ns, name);
        let mut all = self.objects.write().unwrap();
        all.entry(rt.plural).or_default().insert(key, obj.clone());
        Ok(obj)
    }

    /// The object, if stored. `namespace` is ignored for cluster-scoped resources.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = resources::by_plural(resource)?;
        let ns = if rt.namespaced { namespace } else { "" };
        self.objects
            .read()
            .unwrap()
            .get(rt.plural)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of `resource` in `namespace` (None: all namespaces), in namespace/name order.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(rt) = resources::by_plural(resource) else {
            return Vec::new();
        };
        self.objects
            .read()
            .unwrap()
            .get(rt.plural)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| !rt.namespaced || namespace.is_none_or(|n| n == ns))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Applies a JSON merge patch (RFC 7386) to a stored object. A `resourceVersion` in
    /// the patch must be the stored one (409 Conflict otherwise). Name, namespace, uid and
    /// creationTimestamp cannot be patched.
    pub fn patch(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, KubeError> {
        self.modify(resource, namespace, name, |rt, obj| {
            let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
            if let Some(rv) = patch
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                && Some(rv)
                    != obj
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
            {
                return Err(KubeError::Conflict {
                    target: Target::new(rt, ns, Some(name)),
                });
            }
            if !patch.is_object() {
                return Err(KubeError::BadRequest(
                    "json: cannot unmarshal patch: not an object".to_string(),
                ));
            }
            let keep = identity_fields(obj);
            merge_patch(obj, patch);
            restore_identity(obj, keep);
            Ok(())
        })
    }

    /// Applies `f` to a stored object (for faults: set a status, drop an annotation).
    pub fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, KubeError> {
        self.modify(resource, namespace, name, |_, obj| {
            f(obj);
            Ok(())
        })
    }

    fn modify(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&ResourceType, &mut Value) -> Result<(), KubeError>,
    ) -> Result<Value, KubeError> {
        let rt = resources::by_plural(resource).ok_or(KubeError::NoSuchPath)?;
        let ns = if rt.namespaced { namespace } else { "" };
        let mut all = self.objects.write().unwrap();
        let obj = all
            .get_mut(rt.plural)
            .and_then(|m| m.get_mut(&(ns.to_string(), name.to_string())))
            .ok_or_else(|| KubeError::not_found(rt, rt.namespaced.then_some(ns), name))?;
        f(rt, obj)?;
        obj["metadata"]["resourceVersion"] = json!(self.next_revision());
        Ok(obj.clone())
    }

    /// Creates an object as the API does: 409 AlreadyExists if present, 404 if its
    /// namespace does not exist. `metadata.generateName` is honoured.
    pub(crate) fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut obj: Value,
    ) -> Result<Value, KubeError> {
        if !obj.is_object() {
            return Err(KubeError::BadRequest(
                "the body of the request must be a JSON object".to_string(),
            ));
        }
        if let Some(ns) = ns {
            match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
                Some(given) if given != ns => {
                    return Err(KubeError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request"
                            .to_string(),
                    ));
                }
                _ => obj["metadata"]["namespace"] = json!(ns),
            }
            if self.get("namespaces", "", ns).is_none() {
                let nsrt = resources::by_plural("namespaces").expect("namespaces are served");
                return Err(KubeError::not_found(nsrt, None, ns));
            }
        }
        if obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_none()
            && let Some(prefix) = obj
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
        {
            let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_string();
            obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
        }
        let (ns_key, name) = key_of(rt, &obj)?;
        let mut all = self.objects.write().unwrap();
        let m = all.entry(rt.plural).or_default();
        let key = (ns_key.clone(), name.clone());
        if m.contains_key(&key) {
            return Err(KubeError::AlreadyExists {
                target: Target::new(rt, ns, Some(&name)),
            });
        }
        self.complete(rt, &mut obj, &ns_key);
        m.insert(key, obj.clone());
        Ok(obj)
    }

    /// Replaces an object as `PUT` does: 404 if absent, 409 Conflict if the body's
    /// `resourceVersion` is set and stale.
    pub(crate) fn replace(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
    ) -> Result<Value, KubeError> {
        if obj.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(KubeError::BadRequest(
                "the name of the object does not match the name on the URL".to_string(),
            ));
        }
        let ns_key = ns.unwrap_or("").to_string();
        let mut all = self.objects.write().unwrap();
        let m = all.entry(rt.plural).or_default();
        let key = (ns_key.clone(), name.to_string());
        let current = m
            .get(&key)
            .ok_or_else(|| KubeError::not_found(rt, ns, name))?;
        let stored_rv = current.pointer("/metadata/resourceVersion").cloned();
        if let Some(rv) = obj.pointer("/metadata/resourceVersion")
            && Some(rv) != stored_rv.as_ref()
        {
            return Err(KubeError::Conflict {
                target: Target::new(rt, ns, Some(name)),
            });
        }
        let keep = identity_fields(current);
        restore_identity(&mut obj, keep);
        self.complete(rt, &mut obj, &ns_key);
        m.insert(key, obj.clone());
        Ok(obj)
    }

    /// Removes an object; deleting a namespace removes everything in it (at once: the
    /// mock has no Terminating phase). Returns the removed object.
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = resources::by_plural(resource)?;
        let ns = if rt.namespaced { namespace } else { "" };
        let removed = self
            .objects
            .write()
            .unwrap()
            .get_mut(rt.plural)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.next_revision();
        if rt.plural == "namespaces" {
            let mut all = self.objects.write().unwrap();
            for m in all.values_mut() {
                m.retain(|(ns, _), _| ns != name);
            }
            self.logs
                .write()
                .unwrap()
                .retain(|(ns, _, _), _| ns != name);
        }
        if rt.plural == "pods" {
            self.logs
                .write()
                .unwrap()
                .retain(|(n, p, _), _| !(n == ns && p == name));
        }
        Some(removed)
    }

    fn complete(&self, rt: &ResourceType, obj: &mut Value, ns: &str) {
        if obj.get("kind").is_none() {
            obj["kind"] = json!(rt.kind);
        }
        if obj.get("apiVersion").is_none() {
            obj["apiVersion"] = json!(rt.api_version());
        }
        let meta = &mut obj["metadata"];
        if rt.namespaced {
            meta["namespace"] = json!(ns);
        }
        if meta.get("uid").is_none() {
            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        }
        if meta.get("creationTimestamp").is_none() {
            meta["creationTimestamp"] = json!(rfc3339(self.clock.now()));
        }
        meta["resourceVersion"] = json!(self.next_revision());
    }

    // --- pod logs ---

    /// Sets the current log of a pod's container (what `kubectl logs` prints).
    pub fn set_pod_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        self.logs
            .write()
            .unwrap()
            .entry((
                namespace.to_string(),
                pod.to_string(),
                container.to_string(),
            ))
            .or_default()
            .current = text.to_string();
    }

    /// Sets the log of the container's previous instance (`kubectl logs --previous`), as a
    /// crash-looping container has.
    pub fn set_pod_previous_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        self.logs
            .write()
            .unwrap()
            .entry((
                namespace.to_string(),
                pod.to_string(),
                container.to_string(),
            ))
            .or_default()
            .previous = Some(text.to_string());
    }

    /// `(current, previous)` logs of a container; empty current when never set.
    pub fn pod_log(&self, namespace: &str, pod: &str, container: &str) -> (String, Option<String>) {
        let logs = self.logs.read().unwrap();
        let l = logs
            .get(&(
                namespace.to_string(),
                pod.to_string(),
                container.to_string(),
            ))
            .cloned()
            .unwrap_or_default();
        (l.current, l.previous)
    }

    // --- convenience for faults ---

    /// Records an Event about `involved` (a stored object), as kubelet or a controller
    /// would: `kind` `Normal`/`Warning`, `reason` e.g. `BackOff`.
    pub fn record_event(
        &self,
        involved: &Value,
        event_type: &str,
        reason: &str,
        message: &str,
    ) -> Result<Value, KubeError> {
        let ns = involved
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = involved
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let now = rfc3339(self.clock.now());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": { "name": format!("{name}.{}", &suffix[..16]), "namespace": ns },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": name,
                "namespace": ns,
                "uid": involved.pointer("/metadata/uid"),
                "resourceVersion": involved.pointer("/metadata/resourceVersion"),
            },
            "type": event_type,
            "reason": reason,
            "message": message,
            "source": { "component": "kubelet" },
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "kubelet",
        });
        self.put("events", event)
    }
}

fn key_of(rt: &ResourceType, obj: &Value) -> Result<(String, String), KubeError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            KubeError::BadRequest(format!(
                "{} in version \"{}\" cannot be handled as a {}: metadata.name: Required value",
                rt.kind, rt.version, rt.kind
            ))
        })?;
    let ns = if rt.namespaced {
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string()
    } else {
        String::new()
    };
    Ok((ns, name.to_string()))
}

type Identity = [(&'static str, Option<Value>); 4];

fn identity_fields(obj: &Value) -> Identity {
    let m = obj.get("metadata");
    let f = |k: &str| m.and_then(|m| m.get(k)).cloned();
    [
        ("name", f("name")),
        ("namespace", f("namespace")),
        ("uid", f("uid")),
        ("creationTimestamp", f("creationTimestamp")),
    ]
}

fn restore_identity(obj: &mut Value, keep: Identity) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    for (k, v) in keep {
        match v {
            Some(v) => obj["metadata"][k] = v,
            None => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
}

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes, anything else
/// (lists included) replaces. Strategic merge patches are applied this way too, which
/// differs from the apiserver only for lists with merge keys (containers, env).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// `2024-05-01T12:00:00Z`: metav1.Time's format (seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> KubeState {
        let st = KubeState::new(Arc::new(Clock::default()));
        st.put("namespaces", json!({ "metadata": { "name": "n" } }))
            .unwrap();
        st
    }

    #[test]
    fn put_fills_metadata_and_bumps_revision() {
        let st = state();
        let before = st.resource_version();
        let cm = st
            .put(
                "configmaps",
                json!({ "metadata": { "name": "c", "namespace": "n" } }),
            )
            .unwrap();
        assert_eq!(cm["kind"], "ConfigMap");
        assert_eq!(cm["apiVersion"], "v1");
        assert!(cm["metadata"]["uid"].is_string());
        assert_eq!(cm["metadata"]["resourceVersion"], (before + 1).to_string());
        assert_eq!(st.resource_version(), before + 1);
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({ "a": { "b": 1, "c": 2 }, "l": [1, 2] });
        merge_patch(&mut t, &json!({ "a": { "b": null, "d": 3 }, "l": [3] }));
        assert_eq!(t, json!({ "a": { "c": 2, "d": 3 }, "l": [3] }));
    }

    #[test]
    fn patch_checks_resource_version_and_keeps_identity() {
        let st = state();
        let sa = st
            .put(
                "serviceaccounts",
                json!({ "metadata": { "name": "s", "namespace": "n" } }),
            )
            .unwrap();
        let e = st
            .patch(
                "serviceaccounts",
                "n",
                "s",
                &json!({ "metadata": { "resourceVersion": "1" } }),
            )
            .unwrap_err();
        assert!(matches!(e, KubeError::Conflict { .. }));
        let out = st
            .patch(
                "serviceaccounts",
                "n",
                "s",
                &json!({ "metadata": { "name": "other", "annotations": { "a": "b" } } }),
            )
            .unwrap();
        assert_eq!(out["metadata"]["name"], "s");
        assert_eq!(out["metadata"]["uid"], sa["metadata"]["uid"]);
        assert_eq!(out["metadata"]["annotations"]["a"], "b");
    }

    #[test]
    fn create_refuses_duplicates_and_missing_namespaces() {
        let st = state();
        let rt = resources::by_plural("pods").unwrap();
        let pod = json!({ "metadata": { "name": "p" } });
        st.create(rt, Some("n"), pod.clone()).unwrap();
        assert!(matches!(
            st.create(rt, Some("n"), pod.clone()).unwrap_err(),
            KubeError::AlreadyExists { .. }
        ));
        assert!(matches!(
            st.create(rt, Some("missing"), pod).unwrap_err(),
            KubeError::NotFound { .. }
        ));
    }

    #[test]
    fn deleting_a_namespace_removes_its_objects() {
        let st = state();
        st.put(
            "pods",
            json!({ "metadata": { "name": "p", "namespace": "n" } }),
        )
        .unwrap();
        st.set_pod_log("n", "p", "c", "x");
        st.delete("namespaces", "", "n").unwrap();
        assert!(st.list("pods", None).is_empty());
        assert_eq!(st.pod_log("n", "p", "c").0, "");
    }
}
