//! Where an output came from: the crate version, the source revision, the command, the
//! model, the seeds and the full config. Every record (`run.json`, `compare.json`, …)
//! carries them, every figure embeds them (PNG text chunks, an SVG `<metadata>` element,
//! comment lines at the top of the figure CSV), and `run.toml` holds the config in the form
//! `--config` reads, so a past run can be re-run from its folder.

use serde_json::Value;

use crate::error::{Error, Result};

/// The crate version (semver; changes whenever results change).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The source revision the binary was built from: the git commit (with `-modified` when
/// tracked files differed from it at build time), or `unknown` outside a git checkout.
/// Embedded by `build.rs`.
pub const REVISION: &str = env!("AEDYN_REVISION");

/// The provenance of one output file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// The command that made it, e.g. `aedyn compare` or `aedyn reproduce --only digits`.
    pub command: String,
    /// The model kind (`autoencoder`, …).
    pub model: String,
    /// The replicate seeds (empty when the command's own config fixes them, as for the
    /// built-in figures of `reproduce`, which version and revision determine).
    pub seeds: Vec<u64>,
    /// The full config as TOML (`--config` reads it), empty when version, revision and
    /// command determine it (`reproduce`).
    pub config: String,
}

impl Provenance {
    /// The provenance of a command's output: its command, model, seeds and config.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the config cannot be written as TOML (see [`config_toml`]).
    pub fn of(command: &str, model: &str, seeds: &[u64], config: &Value) -> Result<Self> {
        Ok(Provenance {
            command: command.to_string(),
            model: model.to_string(),
            seeds: seeds.to_vec(),
            config: config_toml(model, config)?,
        })
    }

    /// The fields as (key, text) pairs, in a fixed order: `aedyn-version`, `aedyn-revision`,
    /// `command`, `model`, `seeds`, `config`.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        vec![
            ("aedyn-version", VERSION.to_string()),
            ("aedyn-revision", REVISION.to_string()),
            ("command", self.command.clone()),
            ("model", self.model.clone()),
            ("seeds", seeds.join(", ")),
            ("config", self.config.clone()),
        ]
    }

    /// The fields as comment lines (`# key: value`; the config's lines each after `# `),
    /// for the top of a CSV file (numpy `comments='#'`, pandas `comment='#'`).
    pub fn csv_comments(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.fields() {
            if k == "config" {
                s.push_str("# config:\n");
                for line in v.lines() {
                    s.push_str("#   ");
                    s.push_str(line);
                    s.push('\n');
                }
            } else {
                s.push_str(&format!("# {k}: {v}\n"));
            }
        }
        s
    }

    /// An SVG `<metadata>` element holding the fields (XML-escaped), one child element each.
    pub fn svg_metadata(&self) -> String {
        let mut s = String::from("<metadata id=\"aedyn-provenance\">\n");
        for (k, v) in self.fields() {
            s.push_str(&format!(
                "<aedyn:{k} xmlns:aedyn=\"https://github.com/aedyn\">"
            ));
            s.push_str(&xml_escape(&v));
            s.push_str(&format!("</aedyn:{k}>\n"));
        }
        s.push_str("</metadata>\n");
        s
    }
}

/// Insert the provenance `<metadata>` element right after the opening `<svg …>` tag.
pub fn embed_in_svg(svg: &str, p: &Provenance) -> String {
    match svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1))
    {
        Some(end) => {
            let mut out = String::with_capacity(svg.len() + 512);
            out.push_str(&svg[..end]);
            out.push('\n');
            out.push_str(&p.svg_metadata());
            out.push_str(&svg[end..]);
            out
        }
        None => svg.to_string(),
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A recorded config (the JSON of a record's `config`) as the TOML that `--config` reads:
/// `[model] kind = "<model>"` first, then the sections; unset options (JSON `null`) are left
/// out, since TOML has no null and an absent key means the same default.
///
/// # Errors
/// [`Error::InvalidState`] if a value has no TOML form (an integer beyond `i64`).
pub fn config_toml(model: &str, config: &Value) -> Result<String> {
    let bad = |e: String| Error::InvalidState(format!("the config has no TOML form: {e}"));
    let mut table = match to_toml(config).map_err(bad)? {
        Some(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let mut model_table = toml::Table::new();
    model_table.insert("kind".into(), toml::Value::String(model.to_string()));
    let mut out = toml::Table::new();
    out.insert("model".into(), toml::Value::Table(model_table));
    out.extend(std::mem::take(&mut table));
    toml::to_string(&out).map_err(|e| bad(e.to_string()))
}

fn to_toml(v: &Value) -> std::result::Result<Option<toml::Value>, String> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if n.is_i64() => toml::Value::Integer(i),
            _ if n.is_u64() => return Err(format!("integer {n} is beyond the TOML range")),
            (_, Some(f)) => toml::Value::Float(f),
            _ => return Err(format!("number {n}")),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(
            a.iter()
                .map(to_toml)
                .collect::<std::result::Result<Vec<_>, _>>()?
                .into_iter()
                .map(|x| x.ok_or("an array holds null"))
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut t = toml::Table::new();
            for (k, x) in m {
                if let Some(x) = to_toml(x)? {
                    t.insert(k.clone(), x);
                }
            }
            toml::Value::Table(t)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_round_trips_through_toml_without_nulls() {
        let cfg = json!({"data": {"dim": 1000, "spikes": [25.0, 9.0], "path": null},
                         "training": {"lr": 0.4, "rule": "sgd"}});
        let text = config_toml("autoencoder", &cfg).unwrap();
        let back: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(back["model"]["kind"].as_str(), Some("autoencoder"));
        assert_eq!(back["data"]["dim"].as_integer(), Some(1000));
        assert_eq!(back["data"]["spikes"][1].as_float(), Some(9.0));
        assert!(back["data"].get("path").is_none());
        assert_eq!(back["training"]["lr"].as_float(), Some(0.4));
        assert!(config_toml("x", &json!({"a": {"b": u64::MAX}})).is_err());
        assert!(config_toml("x", &json!({"a": [1, null]})).is_err());
    }

    #[test]
    fn svg_metadata_is_escaped_and_placed_after_the_root_tag() {
        let p = Provenance {
            command: "aedyn compare".into(),
            model: "ntk".into(),
            seeds: vec![0, 7],
            config: "[data]\nname = \"a<b&c\"\n".into(),
        };
        let svg = embed_in_svg(
            "<?xml version=\"1.0\"?>\n<svg width=\"1\">\n<rect/></svg>",
            &p,
        );
        let meta = svg.find("<metadata").unwrap();
        assert!(svg.find("<svg").unwrap() < meta && meta < svg.find("<rect").unwrap());
        assert!(svg.contains("a&lt;b&amp;c"));
        assert!(svg.contains(">0, 7</aedyn:seeds>"));
        let csv = p.csv_comments();
        assert!(csv.lines().all(|l| l.starts_with('#')));
        assert!(csv.contains("# aedyn-revision: "));
    }
}
