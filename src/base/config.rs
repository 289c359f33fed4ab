//! Reading config files for any model: the file is a TOML table whose `[model] kind` picks
//! the model (see [`crate::registry`]); the model deserialises the other sections with its
//! own key set. A key the model does not have is an error naming the key and the model
//! (e.g. "`network.neurons` is not a key of the autoencoder model") — there are no
//! cross-model key lists.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::base::model::Dynamics;
use crate::error::{Error, Result};

/// A model's unchecked config: deserialised from the file's sections, checked into the
/// model's validated experiment (linfa's `Params` → `check()`).
pub trait ModelParams: DeserializeOwned + Serialize + Default {
    /// The model's `[model] kind`.
    const KIND: &'static str;
    /// The validated experiment.
    type Experiment: Dynamics + 'static;
    /// Make the relative paths inside the config absolute against `base` (its folder).
    fn resolve_paths(&mut self, base: &Path);
    /// Validate everything; errors name the dotted config key.
    fn check(&self) -> Result<Self::Experiment>;
    /// The memory a run of this config needs at least, by the key it grows with (see
    /// [`crate::resources`]); checked before [`ModelParams::check`] allocates anything.
    fn memory(&self) -> crate::resources::Estimate;
}

/// Implement [`ModelParams`] for a model's params type from its inherent `resolve_paths` and
/// `check`: `model_params!(Params, Experiment, KIND);`.
#[macro_export]
macro_rules! model_params {
    ($params:ty, $experiment:ty, $kind:expr) => {
        impl $crate::base::config::ModelParams for $params {
            const KIND: &'static str = $kind;
            type Experiment = $experiment;

            fn resolve_paths(&mut self, base: &std::path::Path) {
                <$params>::resolve_paths(self, base)
            }

            fn check(&self) -> $crate::Result<$experiment> {
                <$params>::check(self)
            }

            fn memory(&self) -> $crate::resources::Estimate {
                <$params>::memory(self)
            }
        }
    };
}

/// Build model `P`'s experiment from a config table (see [`params_from_table`]); a config
/// whose memory estimate exceeds the limit is refused before anything is allocated
/// ([`crate::resources::check_memory`]).
pub fn build<P: ModelParams>(table: toml::Table, base: &Path) -> Result<Box<dyn Dynamics>> {
    let mut p: P = params_from_table(table, P::KIND)?;
    p.resolve_paths(base);
    crate::resources::check_memory(&p.memory())?;
    Ok(Box::new(p.check()?))
}

/// The config table with every key of model `P` present (defaults filled in) and
/// `[model] kind` set: the base of parameter sweeps.
pub fn filled<P: ModelParams>(table: toml::Table) -> Result<toml::Table> {
    let p: P = params_from_table(table, P::KIND)?;
    let mut t = toml::Table::try_from(&p).map_err(|e| Error::InvalidState(e.to_string()))?;
    let mut model = toml::Table::new();
    model.insert("kind".into(), toml::Value::String(P::KIND.into()));
    t.insert("model".into(), toml::Value::Table(model));
    Ok(t)
}

/// Parse TOML text into a table (`origin` names the file in errors).
pub fn parse_table(text: &str, origin: &Path) -> Result<toml::Table> {
    toml::from_str(text).map_err(|e| Error::parse(origin, e.to_string()))
}

/// The model kind named by `[model] kind` (`None` when absent); any other key of `[model]`
/// is an error naming it.
pub fn model_kind(table: &toml::Table) -> Result<Option<String>> {
    let Some(model) = table.get("model") else {
        return Ok(None);
    };
    let model = model
        .as_table()
        .ok_or_else(|| Error::config("model", "must be a table with the key `kind`"))?;
    if let Some(k) = model.keys().find(|k| k.as_str() != "kind") {
        return Err(Error::config(
            format!("model.{k}"),
            "is not a key of [model] (only `kind`)",
        ));
    }
    match model.get("kind") {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(Error::config(
            "model.kind",
            format!("must be a string, got {v}"),
        )),
    }
}

/// Deserialise model `P`'s params from `table` (its `[model]` and `[sweep]` sections are
/// ignored). Wrong types are errors naming the key; keys that `P` does not have are errors
/// naming the key and `model`.
pub fn params_from_table<P: DeserializeOwned>(mut table: toml::Table, model: &str) -> Result<P> {
    table.remove("model");
    table.remove("sweep");
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(toml::Value::Table(table), &mut note);
    let params: P = serde_path_to_error::deserialize(de)
        .map_err(|e| Error::config(e.path().to_string(), e.inner().message().to_string()))?;
    match unknown.first() {
        Some(key) => Err(Error::config(
            key.clone(),
            format!("is not a key of the {model} model"),
        )),
        None => Ok(params),
    }
}

/// Parse a config file's text for model `P` named `model` (see [`params_from_table`]); a
/// `[model] kind` other than `model` is an error.
pub fn params_from_toml<P: DeserializeOwned>(text: &str, origin: &Path, model: &str) -> Result<P> {
    let table = parse_table(text, origin)?;
    if let Some(kind) = model_kind(&table)? {
        if kind != model {
            return Err(Error::config(
                "model.kind",
                format!("is \"{kind}\", but these params are of the {model} model"),
            ));
        }
    }
    params_from_table(table, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Net {
        width: usize,
        scale: f64,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct P {
        network: Net,
    }

    #[test]
    fn unknown_keys_name_key_and_model() {
        let e = params_from_toml::<P>(
            "[model]\nkind = \"toy\"\n[network]\nneurons = 3\n",
            Path::new("x.toml"),
            "toy",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`network.neurons`") && e.contains("not a key of the toy model"),
            "{e}"
        );
        let e = params_from_toml::<P>("[nets]\nwidth = 3\n", Path::new("x.toml"), "toy")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`nets`"), "{e}");
        let p: P = params_from_toml("[network]\nwidth = 3\n", Path::new("x.toml"), "toy").unwrap();
        assert_eq!(p.network.width, 3);
        let e = params_from_toml::<P>("[model]\nkind = \"other\"\n", Path::new("x.toml"), "toy")
            .unwrap_err()
            .to_string();
        assert!(e.contains("model.kind"), "{e}");
        let e = params_from_toml::<P>("[network]\nwidth = \"a\"\n", Path::new("x.toml"), "toy")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("network.width") && e.contains("invalid type"),
            "{e}"
        );
    }
}
