//! HDF5: groups, datasets (path, shape, dtype, chunking) and attributes.
//!
//! Read with the pure-Rust, read-only `hdf5-reader` crate through positional
//! reads (no memory map, no libhdf5). Only object headers are parsed: dataset
//! values are never read. The walk visits each object once (hard links to one
//! object, and cycles, are followed once) and stops at the caps in [`crate::limits`].
//!
//! The walk also looks for NetCDF-4 markers (the `_NCProperties` root attribute,
//! `_Netcdf4Dimid` / `_Netcdf4Coordinates` attributes, netCDF's dimension-scale
//! names), so that the caller can report a NetCDF-4 file as NetCDF.

use std::collections::HashSet;

use hdf5_reader::group::Group;
use hdf5_reader::{
    Attribute, ByteOrder, Datatype, Hdf5File, ReferenceType, StringPadding, StringSize, VarLenKind,
};
use serde::{Deserialize, Serialize};

use crate::limits::{
    HDF5_MAX_GROUP_DEPTH as MAX_GROUP_DEPTH, HDF5_MAX_OBJECTS as MAX_OBJECTS,
    MAX_ATTRIBUTE_ELEMENTS, MAX_ATTRIBUTE_STRING,
};
use crate::{AttributeInfo, Ctx, Format, FormatError, is_false};

/// The HDF5 format signature.
pub(crate) const SIGNATURE: [u8; 8] = *b"\x89HDF\r\n\x1a\n";

/// What an HDF5 file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hdf5Info {
    /// The superblock version (0–3): 0/1 from older libraries or default settings,
    /// 2/3 from `libver="latest"` writers.
    pub superblock_version: u8,
    /// Every group, the root `/` first, parents before children.
    pub groups: Vec<Hdf5Group>,
    /// Every dataset, grouped by parent in walk order.
    pub datasets: Vec<Hdf5Dataset>,
    /// Whether a cap ([`crate::limits::HDF5_MAX_OBJECTS`],
    /// [`crate::limits::HDF5_MAX_GROUP_DEPTH`]) stopped the walk.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// One HDF5 group. Members and attributes are listed in name order, as h5py does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hdf5Group {
    /// Absolute path, `/` for the root.
    pub path: String,
    /// The group's attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeInfo>,
}

/// One HDF5 dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hdf5Dataset {
    /// Absolute path, such as `/results/temperature`.
    pub path: String,
    /// Current dimensions; empty for a scalar.
    pub shape: Vec<u64>,
    /// Maximum dimensions when they differ from `shape`; `null` for an unlimited one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_shape: Option<Vec<Option<u64>>>,
    /// Element type: `int32`, `uint8`, `float64`, `bool`, `string` (variable
    /// length), `string[10]` (fixed, 10 bytes), `compound{x: float32, ...}`,
    /// `enum<int32>`, `float32[3]` (array type), `vlen<int64>`, `opaque[16]`,
    /// `object_reference`, `region_reference`, `bitfield8`.
    pub dtype: String,
    /// Chunk dimensions, for a chunked dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<u64>>,
    /// The dataset's attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeInfo>,
}

/// The HDF5 description plus whether NetCDF-4 markers were seen.
pub(crate) struct Described {
    pub info: Hdf5Info,
    pub netcdf4_markers: bool,
}

/// The offset of the HDF5 signature within `head`: 0, or 512 × 2ⁿ (a user block
/// precedes the superblock); offsets past `head` are the caller's to check.
pub(crate) fn signature_offset(head: &[u8]) -> Option<usize> {
    std::iter::once(0)
        .chain(std::iter::successors(Some(512usize), |o| o.checked_mul(2)))
        .take_while(|&o| o.saturating_add(8) <= head.len())
        .find(|&o| head.get(o..o + 8) == Some(&SIGNATURE[..]))
}

pub(crate) fn describe(
    ctx: &Ctx<'_>,
    format: Format,
    notes: &mut Vec<String>,
) -> Result<Described, FormatError> {
    let err = |e: hdf5_reader::error::Error| match e {
        hdf5_reader::error::Error::Io(io) => FormatError::io(ctx.path, io),
        other => FormatError::malformed(format, other.to_string()),
    };
    let file = Hdf5File::open(ctx.path).map_err(err)?;
    let root = file.root_group().map_err(err)?;
    let mut walk = Walk {
        seen: HashSet::new(),
        groups: Vec::new(),
        datasets: Vec::new(),
        truncated: false,
        markers: false,
    };
    walk.seen.insert(root.address());
    walk.group(&root, "/", 0).map_err(err)?;
    if walk.truncated {
        notes.push(format!(
            "the HDF5 walk stopped at {MAX_OBJECTS} objects or {MAX_GROUP_DEPTH} levels"
        ));
    }
    Ok(Described {
        info: Hdf5Info {
            superblock_version: file.superblock().version,
            groups: walk.groups,
            datasets: walk.datasets,
            truncated: walk.truncated,
        },
        netcdf4_markers: walk.markers,
    })
}

struct Walk {
    seen: HashSet<u64>,
    groups: Vec<Hdf5Group>,
    datasets: Vec<Hdf5Dataset>,
    truncated: bool,
    markers: bool,
}

impl Walk {
    fn full(&mut self) -> bool {
        if self.groups.len() + self.datasets.len() >= MAX_OBJECTS {
            self.truncated = true;
        }
        self.truncated
    }

    fn group(&mut self, group: &Group, path: &str, depth: usize) -> hdf5_reader::error::Result<()> {
        let mut attrs = group.attributes()?;
        attrs.sort_by(|a, b| a.name.cmp(&b.name));
        if depth == 0
            && attrs
                .iter()
                .any(|a| a.name == "_NCProperties" || a.name == "_nc3_strict")
        {
            self.markers = true;
        }
        self.groups.push(Hdf5Group {
            path: path.to_string(),
            attributes: attrs.iter().map(attribute_info).collect(),
        });
        // Name order, as h5py lists members (the file's own order is a hash order
        // for dense storage).
        let (mut groups, mut datasets) = group.members()?;
        groups.sort_by(|a, b| a.name().cmp(b.name()));
        datasets.sort_by(|a, b| a.name().cmp(b.name()));
        for ds in datasets {
            if !self.seen.insert(ds.address()) {
                continue;
            }
            if self.full() {
                return Ok(());
            }
            let mut attrs = ds.attributes();
            attrs.sort_by(|a, b| a.name.cmp(&b.name));
            if attrs.iter().any(is_netcdf_marker) {
                self.markers = true;
            }
            let shape = ds.shape().to_vec();
            let max_shape = ds
                .max_dims()
                .filter(|m| *m != shape.as_slice())
                .map(|m| m.iter().map(|&d| (d != u64::MAX).then_some(d)).collect());
            let chunks = ds.chunks().map(|c| {
                // Layout messages before version 4 carry the element size as a last "dimension".
                let mut c: Vec<u64> = c.into_iter().map(u64::from).collect();
                if c.len() == shape.len() + 1 {
                    c.pop();
                }
                c
            });
            self.datasets.push(Hdf5Dataset {
                path: join(path, ds.name()),
                shape,
                max_shape,
                dtype: dtype_name(ds.dtype(), 0),
                chunks,
                attributes: attrs.iter().map(attribute_info).collect(),
            });
        }
        for child in groups {
            if !self.seen.insert(child.address()) {
                continue;
            }
            if depth + 1 >= MAX_GROUP_DEPTH {
                self.truncated = true;
                continue;
            }
            if self.full() {
                return Ok(());
            }
            let child_path = join(path, child.name());
            self.group(&child, &child_path, depth + 1)?;
        }
        Ok(())
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// netCDF-C writes these on the datasets of every NetCDF-4 file it makes.
fn is_netcdf_marker(a: &Attribute) -> bool {
    match a.name.as_str() {
        "_Netcdf4Dimid" | "_Netcdf4Coordinates" => true,
        "NAME" => string_values(a).is_some_and(|v| {
            v.first().is_some_and(|s| {
                s.starts_with("This is a netCDF dimension but not a netCDF variable")
            })
        }),
        _ => false,
    }
}

/// A readable name for an HDF5 datatype (see [`Hdf5Dataset::dtype`]).
pub(crate) fn dtype_name(dt: &Datatype, depth: usize) -> String {
    if depth > 16 {
        return "…".into();
    }
    match dt {
        Datatype::FixedPoint { size, signed, .. } => {
            format!(
                "{}int{}",
                if *signed { "" } else { "u" },
                u32::from(*size) * 8
            )
        }
        Datatype::FloatingPoint { size, .. } => format!("float{}", u32::from(*size) * 8),
        Datatype::String {
            size: StringSize::Fixed(n),
            ..
        } => format!("string[{n}]"),
        Datatype::String {
            size: StringSize::Variable,
            ..
        } => "string".into(),
        Datatype::Compound { fields, .. } => format!(
            "compound{{{}}}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name, dtype_name(&f.datatype, depth + 1)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Datatype::Array { base, dims } => format!(
            "{}[{}]",
            dtype_name(base, depth + 1),
            dims.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Datatype::Enum { base, members } => {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            if names == ["FALSE", "TRUE"] {
                "bool".into()
            } else {
                format!("enum<{}>", dtype_name(base, depth + 1))
            }
        }
        Datatype::VarLen {
            kind: VarLenKind::String,
            ..
        } => "string".into(),
        Datatype::VarLen { base, .. } => format!("vlen<{}>", dtype_name(base, depth + 1)),
        Datatype::Opaque { size, .. } => format!("opaque[{size}]"),
        Datatype::Reference {
            ref_type: ReferenceType::Object,
            ..
        } => "object_reference".into(),
        Datatype::Reference {
            ref_type: ReferenceType::DatasetRegion,
            ..
        } => "region_reference".into(),
        Datatype::Bitfield { size, .. } => format!("bitfield{}", u32::from(*size) * 8),
    }
}

fn attribute_info(a: &Attribute) -> AttributeInfo {
    let length = a
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .unwrap_or(u64::MAX);
    AttributeInfo {
        name: a.name.clone(),
        dtype: dtype_name(&a.datatype, 0),
        length,
        value: if length <= MAX_ATTRIBUTE_ELEMENTS {
            attribute_value(a, length)
        } else {
            None
        },
    }
}

/// A small attribute's value as JSON: a scalar for one element, else an array.
fn attribute_value(a: &Attribute, length: u64) -> Option<serde_json::Value> {
    let values: Vec<serde_json::Value> = match &a.datatype {
        Datatype::FixedPoint {
            size,
            signed,
            byte_order,
        } => a
            .raw_data
            .chunks_exact(usize::from(*size))
            .take(length as usize)
            .map(|b| int_value(b, *signed, *byte_order))
            .collect::<Option<_>>()?,
        Datatype::FloatingPoint { size, byte_order } => a
            .raw_data
            .chunks_exact(usize::from(*size))
            .take(length as usize)
            .map(|b| float_value(b, *byte_order))
            .collect::<Option<_>>()?,
        Datatype::String { .. }
        | Datatype::VarLen {
            kind: VarLenKind::String,
            ..
        } => {
            let strings = string_values(a)?;
            if strings
                .iter()
                .any(|s| s.chars().count() > MAX_ATTRIBUTE_STRING)
            {
                return None;
            }
            strings.into_iter().map(serde_json::Value::String).collect()
        }
        Datatype::Enum { members, .. }
            if members
                .iter()
                .map(|m| m.name.as_str())
                .eq(["FALSE", "TRUE"]) =>
        {
            a.raw_data
                .iter()
                .take(length as usize)
                .map(|&b| serde_json::Value::Bool(b != 0))
                .collect()
        }
        _ => return None,
    };
    if values.len() as u64 != length {
        return None;
    }
    match values.len() {
        1 if a.shape.iter().all(|&d| d == 1) => values.into_iter().next(),
        _ => Some(serde_json::Value::Array(values)),
    }
}

/// The strings of a string attribute (fixed- or variable-length), if decodable.
fn string_values(a: &Attribute) -> Option<Vec<String>> {
    match &a.datatype {
        Datatype::String {
            size: StringSize::Fixed(n),
            padding,
            ..
        } => {
            let n = usize::try_from(*n).ok()?;
            if n == 0 {
                return Some(vec![String::new()]);
            }
            Some(
                a.raw_data
                    .chunks(n)
                    .map(|chunk| {
                        let end = match padding {
                            StringPadding::NullTerminate | StringPadding::NullPad => {
                                chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len())
                            }
                            StringPadding::SpacePad => {
                                chunk.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1)
                            }
                        };
                        String::from_utf8_lossy(&chunk[..end]).into_owned()
                    })
                    .collect(),
            )
        }
        Datatype::String { .. } | Datatype::VarLen { .. } => {
            if let Some(decoded) = &a.decoded_strings {
                return Some(decoded.clone());
            }
            if let Ok(s) = a.read_strings() {
                return Some(s);
            }
            None
        }
        _ => None,
    }
}

fn int_value(b: &[u8], signed: bool, order: ByteOrder) -> Option<serde_json::Value> {
    let mut buf = [0u8; 8];
    let n = b.len();
    if n == 0 || n > 8 {
        return None;
    }
    match order {
        ByteOrder::LittleEndian => buf[..n].copy_from_slice(b),
        ByteOrder::BigEndian => {
            for (i, byte) in b.iter().rev().enumerate() {
                buf[i] = *byte;
            }
        }
    }
    let raw = u64::from_le_bytes(buf);
    Some(if signed {
        let shift = 64 - 8 * n as u32;
        let v = ((raw << shift) as i64) >> shift;
        serde_json::Value::from(v)
    } else {
        serde_json::Value::from(raw)
    })
}

fn float_value(b: &[u8], order: ByteOrder) -> Option<serde_json::Value> {
    let v = match (b.len(), order) {
        (4, ByteOrder::LittleEndian) => f64::from(f32::from_le_bytes(b.try_into().ok()?)),
        (4, ByteOrder::BigEndian) => f64::from(f32::from_be_bytes(b.try_into().ok()?)),
        (8, ByteOrder::LittleEndian) => f64::from_le_bytes(b.try_into().ok()?),
        (8, ByteOrder::BigEndian) => f64::from_be_bytes(b.try_into().ok()?),
        _ => return None,
    };
    // NaN and infinities have no JSON number; record them as strings.
    Some(
        serde_json::Number::from_f64(v)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(v.to_string())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_integers() {
        assert_eq!(
            int_value(&[0xff], true, ByteOrder::LittleEndian),
            Some((-1).into())
        );
        assert_eq!(
            int_value(&[0xff], false, ByteOrder::LittleEndian),
            Some(255.into())
        );
        assert_eq!(
            int_value(&[0x01, 0x00], false, ByteOrder::BigEndian),
            Some(256.into())
        );
        assert_eq!(
            int_value(&[0xfe, 0xff, 0xff, 0xff], true, ByteOrder::LittleEndian),
            Some((-2).into())
        );
        assert_eq!(int_value(&[], true, ByteOrder::LittleEndian), None);
    }

    #[test]
    fn finds_signatures() {
        assert_eq!(signature_offset(&SIGNATURE), Some(0));
        let mut head = vec![0u8; 520];
        head[512..520].copy_from_slice(&SIGNATURE);
        assert_eq!(signature_offset(&head), Some(512));
        assert_eq!(signature_offset(b"\x89HDF"), None);
    }
}
