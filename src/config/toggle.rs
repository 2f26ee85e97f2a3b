//! On/off settings as operators write them: `on` / `off` or `true` / `false`, with a message
//! naming what was found otherwise.

use serde::Deserialize;

/// A setting written `on` / `off` (or `true` / `false`); off when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Toggle(pub bool);

impl Toggle {
    /// Whether the setting is on.
    pub(crate) fn is_on(self) -> bool {
        self.0
    }
}

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Bool(bool),
            Word(String),
        }
        let expected = "expected `on` or `off`";
        match Written::deserialize(d) {
            Ok(Written::Bool(b)) => Ok(Self(b)),
            Ok(Written::Word(w)) => match w.as_str() {
                "on" => Ok(Self(true)),
                "off" => Ok(Self(false)),
                other => Err(serde::de::Error::custom(format!(
                    "{expected}, found `{other}`"
                ))),
            },
            Err(_) => Err(serde::de::Error::custom(expected)),
        }
    }
}
