//! Reading a settings patch from JSON by hand rather than through serde's derive: serde's errors
//! ("invalid type: string, expected f64") name neither the field nor what it takes, and the
//! settings page shows the message next to the field it names. Unknown fields are all collected
//! first, so one answer lists every typo.

use super::{rule, MemoriesPatch, Patch, SettingsError, UploadPatch, VideoPatch, FIELDS};
use crate::upload::Policy;
use serde_json::{Map, Value};

/// Longest text a setting takes (a window, a bandwidth limit); longer is refused unread.
const MAX_TEXT: usize = 256;
/// Unknown fields named in one message.
const MAX_NAMED: usize = 8;
/// Characters of a bad value quoted back in a message.
const MAX_QUOTED: usize = 40;

pub(super) fn patch(value: &Value) -> Result<Patch, SettingsError> {
    let Value::Object(top) = value else {
        return Err(SettingsError::invalid(
            "settings",
            "the settings must be a JSON object such as {\"memories\": {\"save_minutes\": 3}}",
        ));
    };
    check_unknown(top)?;
    let mut patch = Patch::default();
    if let Some(m) = section(top, "memories")? {
        patch.memories = Some(MemoriesPatch {
            save_minutes: number(m, "memories.save_minutes")?,
            hold_step_s: number(m, "memories.hold_step_s")?,
        })
        .filter(|m| *m != MemoriesPatch::default());
    }
    if let Some(u) = section(top, "upload")? {
        patch.upload = Some(UploadPatch {
            policy: policy(u)?,
            window: text(u, "upload.window")?,
            bwlimit: text(u, "upload.bwlimit")?,
            remote: text(u, "upload.remote")?,
        })
        .filter(|u| *u != UploadPatch::default());
    }
    if let Some(v) = section(top, "video")? {
        patch.video = Some(VideoPatch {
            width: whole(v, "video.width")?,
            height: whole(v, "video.height")?,
            fps: whole(v, "video.fps")?,
            bitrate_kbps: whole(v, "video.bitrate_kbps")?,
        })
        .filter(|v| *v != VideoPatch::default());
    }
    Ok(patch)
}

/// Every key, top level and inside the sections, that is not a setting.
fn check_unknown(top: &Map<String, Value>) -> Result<(), SettingsError> {
    let mut unknown = Vec::new();
    for (name, value) in top {
        let known_section = FIELDS.iter().any(|f| f.split('.').next() == Some(name));
        if !known_section {
            unknown.push(name.clone());
            continue;
        }
        if let Value::Object(fields) = value {
            for field in fields.keys() {
                let full = format!("{name}.{field}");
                if !FIELDS.contains(&full.as_str()) {
                    unknown.push(full);
                }
            }
        }
    }
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let mut named: Vec<String> = unknown
        .iter()
        .take(MAX_NAMED)
        .map(|n| quote(&Value::String(n.clone())))
        .collect();
    if unknown.len() > MAX_NAMED {
        named.push(format!("and {} more", unknown.len() - MAX_NAMED));
    }
    Err(SettingsError::invalid(
        &quote_free(first),
        format!(
            "unknown settings field{} {}; the settings are {}",
            if unknown.len() == 1 { "" } else { "s" },
            named.join(", "),
            FIELDS.join(", ")
        ),
    ))
}

/// A section's fields; `None` when absent or `null`.
fn section<'a>(
    top: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, SettingsError> {
    match top.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(fields)) => Ok(Some(fields)),
        Some(other) => Err(SettingsError::invalid(
            name,
            format!(
                "{name} must be an object of its fields (got {})",
                quote(other)
            ),
        )),
    }
}

/// The value of `field` (`section.name`), unless absent or `null`.
fn field<'a>(fields: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    let name = field.split_once('.').map_or(field, |(_, n)| n);
    fields.get(name).filter(|v| !v.is_null())
}

fn wrong(field: &str, got: &Value) -> SettingsError {
    SettingsError::invalid(
        field,
        format!("{field} must be {} (got {})", rule(field), quote(got)),
    )
}

fn number(fields: &Map<String, Value>, name: &str) -> Result<Option<f64>, SettingsError> {
    match field(fields, name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| wrong(name, v)),
    }
}

fn whole(fields: &Map<String, Value>, name: &str) -> Result<Option<u32>, SettingsError> {
    match field(fields, name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong(name, v)),
    }
}

fn text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, SettingsError> {
    match field(fields, name) {
        None => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
        Some(v) => Err(wrong(name, v)),
    }
}

fn policy(fields: &Map<String, Value>) -> Result<Option<Policy>, SettingsError> {
    let name = "upload.policy";
    match field(fields, name) {
        None => Ok(None),
        Some(v) => match v.as_str() {
            Some("immediate") => Ok(Some(Policy::Immediate)),
            Some("window") => Ok(Some(Policy::Window)),
            Some("manual") => Ok(Some(Policy::Manual)),
            _ => Err(wrong(name, v)),
        },
    }
}

/// A value as JSON, cut short: enough to recognise, never a whole body echoed back.
fn quote(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// A field name for the `field` member: an unknown one is cut short too.
fn quote_free(name: &str) -> String {
    match name.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}
