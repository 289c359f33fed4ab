//! The model registry: the one place that maps `[model] kind` to a model. Adding a model
//! is one row of [`MODELS`] (plus its folder, its figure rows and its tests).

use std::path::Path;

use crate::base::config::{self, ModelParams};
use crate::base::model::Dynamics;
use crate::error::{Error, Result};

/// One registered model.
pub struct Entry {
    /// Its `[model] kind`.
    pub kind: &'static str,
    /// One line for help texts.
    pub about: &'static str,
    /// Its documented default config (TOML).
    pub default_config: &'static str,
    /// Builds the validated experiment from a config table and the config file's folder.
    pub build: fn(toml::Table, &Path) -> Result<Box<dyn Dynamics>>,
    /// The config table with every key present (defaults filled in).
    pub filled: fn(toml::Table) -> Result<toml::Table>,
}

const fn entry<P: ModelParams>(about: &'static str, default_config: &'static str) -> Entry {
    Entry {
        kind: P::KIND,
        about,
        default_config,
        build: config::build::<P>,
        filled: config::filled::<P>,
    }
}

/// Every model, the default (a config without `[model] kind`) first.
pub static MODELS: &[Entry] = &[
    entry::<crate::autoencoder::Params>(
        "two-layer autoencoder under online SGD, high-dimensional ODEs (Refinetti & Goldt 2022)",
        crate::autoencoder::DEFAULT_CONFIG,
    ),
    entry::<crate::mean_field::Params>(
        "mean-field weight-tied autoencoder with N neurons (Nguyen 2021)",
        crate::mean_field::DEFAULT_CONFIG,
    ),
    entry::<crate::generative::Params>(
        "weight-shared autoencoder recovering generative models (Nguyen, Wong & Hegde 2019)",
        crate::generative::DEFAULT_CONFIG,
    ),
    entry::<crate::ntk::Params>(
        "over-parameterised ReLU autoencoders in the NTK regime (Nguyen, Wong & Hegde 2021)",
        crate::ntk::DEFAULT_CONFIG,
    ),
];

/// The registered model of `kind`; an error listing the known kinds otherwise.
pub fn entry_of(kind: &str) -> Result<&'static Entry> {
    MODELS.iter().find(|e| e.kind == kind).ok_or_else(|| {
        let known: Vec<String> = MODELS.iter().map(|e| format!("\"{}\"", e.kind)).collect();
        Error::config(
            "model.kind",
            format!("unknown model \"{kind}\"; one of {}", known.join(", ")),
        )
    })
}

/// The model a config table selects (`[model] kind`, default: the first of [`MODELS`]).
pub fn entry_for(table: &toml::Table) -> Result<&'static Entry> {
    match config::model_kind(table)? {
        Some(kind) => entry_of(&kind),
        None => Ok(&MODELS[0]),
    }
}

/// The validated experiment of a config table whose relative paths resolve against `base`.
pub fn load_table(table: toml::Table, base: &Path) -> Result<Box<dyn Dynamics>> {
    (entry_for(&table)?.build)(table, base)
}

/// The validated experiment of a config file.
pub fn load_file(path: &Path) -> Result<Box<dyn Dynamics>> {
    let (table, base) = read_file(path)?;
    load_table(table, &base)
}

/// A config file's table and the folder its relative paths resolve against.
pub fn read_file(path: &Path) -> Result<(toml::Table, std::path::PathBuf)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let table = config::parse_table(&text, path)?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((table, base))
}

/// The built-in default experiment of `kind` (its documented default config).
pub fn default_table(kind: &str) -> Result<toml::Table> {
    config::parse_table(entry_of(kind)?.default_config, Path::new("default.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_config_builds_and_names_its_kind() {
        for e in MODELS {
            let table = default_table(e.kind).unwrap();
            assert_eq!(config::model_kind(&table).unwrap().as_deref(), Some(e.kind));
            let exp = load_table(table, Path::new(".")).unwrap();
            assert_eq!(exp.kind(), e.kind);
        }
        let e = entry_of("nope").err().unwrap().to_string();
        assert!(
            e.contains("model.kind") && e.contains("\"autoencoder\""),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_model() {
        let t = config::parse_table("[network]\nneurons = 10\n", Path::new("x.toml")).unwrap();
        let e = load_table(t, Path::new(".")).err().unwrap().to_string();
        assert!(
            e.contains("`network.neurons`") && e.contains("not a key of the autoencoder model"),
            "{e}"
        );
        let t = config::parse_table(
            "[model]\nkind = \"mean-field\"\n[network]\nhidden = 3\n",
            Path::new("x.toml"),
        )
        .unwrap();
        let e = load_table(t, Path::new(".")).err().unwrap().to_string();
        assert!(
            e.contains("`network.hidden`") && e.contains("not a key of the mean-field model"),
            "{e}"
        );
    }
}
