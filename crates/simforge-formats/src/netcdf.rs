//! NetCDF: dimensions, variables and attributes, classic and NetCDF-4 alike.
//!
//! Read with the pure-Rust, read-only `netcdf-reader` crate (classic CDF-1,
//! CDF-2 and CDF-5 headers, and NetCDF-4 through `hdf5-reader`), over positional
//! reads of the file (no memory map). Only the header / object headers are
//! parsed; variable data is never read.

use std::sync::Arc;

use netcdf_reader::{
    FileStorage, NcAttrValue, NcAttribute, NcDimension, NcFile, NcFormat, NcGroup, NcType,
    NcVariable,
};
use serde::{Deserialize, Serialize};

use crate::limits::{
    MAX_ATTRIBUTE_ELEMENTS, MAX_ATTRIBUTE_STRING, NETCDF_MAX_GROUP_DEPTH as MAX_GROUP_DEPTH,
    NETCDF_MAX_VARIABLES as MAX_VARIABLES,
};
use crate::{AttributeInfo, Ctx, Format, FormatError};

/// Which NetCDF flavour a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetCdfKind {
    /// CDF-1, the original classic format.
    Classic,
    /// CDF-2, classic with 64-bit offsets.
    Offset64,
    /// CDF-5, classic with 64-bit data (and unsigned/64-bit types).
    Cdf5,
    /// NetCDF-4 (HDF5 underneath).
    Netcdf4,
    /// NetCDF-4 restricted to the classic data model.
    Netcdf4Classic,
}

/// What a NetCDF file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetCdfInfo {
    /// The flavour.
    pub kind: NetCdfKind,
    /// The root group's dimensions.
    pub dimensions: Vec<NetCdfDimension>,
    /// The root group's variables.
    pub variables: Vec<NetCdfVariable>,
    /// Global attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeInfo>,
    /// Sub-groups (NetCDF-4 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<NetCdfGroup>,
}

/// A NetCDF-4 sub-group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetCdfGroup {
    /// Absolute path, such as `/forecast/surface`.
    pub path: String,
    /// Dimensions defined in this group (those of its ancestors are visible in it
    /// too, and listed with them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<NetCdfDimension>,
    /// Variables in this group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<NetCdfVariable>,
    /// The group's attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeInfo>,
    /// Nested groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<NetCdfGroup>,
}

/// One dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCdfDimension {
    /// Its name.
    pub name: String,
    /// Its current length (for an unlimited dimension, the records written so far).
    pub length: u64,
    /// Whether it can grow (the record dimension).
    pub unlimited: bool,
}

/// One variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetCdfVariable {
    /// Its name.
    pub name: String,
    /// Its type: `byte`, `char`, `short`, `int`, `int64`, `float`, `double`,
    /// `ubyte`, `ushort`, `uint`, `uint64`, `string`, or for user-defined types
    /// `enum<int>`, `compound{...}`, `opaque[16]`, `vlen<int>`.
    pub dtype: String,
    /// The names of its dimensions, slowest-varying first.
    pub dimensions: Vec<String>,
    /// The lengths of those dimensions.
    pub shape: Vec<u64>,
    /// Its attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeInfo>,
}

/// Whether `head` starts with a classic NetCDF magic number.
pub(crate) fn is_classic_magic(head: &[u8]) -> bool {
    matches!(head, [b'C', b'D', b'F', 1 | 2 | 5, ..])
}

pub(crate) fn describe(ctx: &Ctx<'_>, notes: &mut Vec<String>) -> Result<NetCdfInfo, FormatError> {
    let err = |e: netcdf_reader::Error| match e {
        netcdf_reader::Error::Io(io) => FormatError::io(ctx.path, io),
        netcdf_reader::Error::UnsupportedVersion(v) => FormatError::unsupported(
            Format::NetCdf,
            format!("classic format version {v} (known: 1, 2, 5)"),
        ),
        other => FormatError::malformed(Format::NetCdf, other.to_string()),
    };
    let storage = FileStorage::open(ctx.path).map_err(|e| match e {
        hdf5_reader::error::Error::Io(io) => FormatError::io(ctx.path, io),
        other => FormatError::malformed(Format::NetCdf, other.to_string()),
    })?;
    let file = NcFile::from_storage(Arc::new(storage)).map_err(err)?;
    let kind = match file.format() {
        NcFormat::Classic => NetCdfKind::Classic,
        NcFormat::Offset64 => NetCdfKind::Offset64,
        NcFormat::Cdf5 => NetCdfKind::Cdf5,
        NcFormat::Nc4 => NetCdfKind::Netcdf4,
        NcFormat::Nc4Classic => NetCdfKind::Netcdf4Classic,
    };
    let root = file.root_group().map_err(err)?;
    let mut budget = MAX_VARIABLES;
    let root = group(root, "/", &mut budget, &[], 0);
    if budget == 0 {
        notes.push(format!(
            "only the first {MAX_VARIABLES} variables are described"
        ));
    }
    Ok(NetCdfInfo {
        kind,
        dimensions: root.dimensions,
        variables: root.variables,
        attributes: root.attributes,
        groups: root.groups,
    })
}

/// Describes `g`; `inherited` holds the dimensions its ancestors define, which the
/// reader also lists in `g` (they are visible there) but which belong to the ancestors.
fn group(
    g: &NcGroup,
    path: &str,
    budget: &mut usize,
    inherited: &[NetCdfDimension],
    depth: usize,
) -> NetCdfGroup {
    let take = g.variables.len().min(*budget);
    *budget -= take;
    let dimensions: Vec<NetCdfDimension> = g
        .dimensions
        .iter()
        .map(dimension)
        .filter(|d| !inherited.contains(d))
        .collect();
    let mut visible = inherited.to_vec();
    visible.extend(dimensions.iter().cloned());
    NetCdfGroup {
        path: path.to_string(),
        variables: g.variables.iter().take(take).map(variable).collect(),
        attributes: g.attributes.iter().map(attribute).collect(),
        groups: if depth < MAX_GROUP_DEPTH {
            g.groups
                .iter()
                .map(|child| {
                    let child_path = if path == "/" {
                        format!("/{}", child.name)
                    } else {
                        format!("{path}/{}", child.name)
                    };
                    group(child, &child_path, budget, &visible, depth + 1)
                })
                .collect()
        } else {
            Vec::new()
        },
        dimensions,
    }
}

fn dimension(d: &NcDimension) -> NetCdfDimension {
    NetCdfDimension {
        name: d.name.clone(),
        length: d.size,
        unlimited: d.is_unlimited,
    }
}

fn variable(v: &NcVariable) -> NetCdfVariable {
    NetCdfVariable {
        name: v.name.clone(),
        dtype: type_name(&v.dtype, 0),
        dimensions: v.dimensions.iter().map(|d| d.name.clone()).collect(),
        shape: v.shape(),
        attributes: v.attributes.iter().map(attribute).collect(),
    }
}

/// NetCDF's own type names (as `ncdump` prints them).
fn type_name(t: &NcType, depth: usize) -> String {
    if depth > 16 {
        return "…".into();
    }
    match t {
        NcType::Byte => "byte".into(),
        NcType::Char => "char".into(),
        NcType::Short => "short".into(),
        NcType::Int => "int".into(),
        NcType::Float => "float".into(),
        NcType::Double => "double".into(),
        NcType::UByte => "ubyte".into(),
        NcType::UShort => "ushort".into(),
        NcType::UInt => "uint".into(),
        NcType::Int64 => "int64".into(),
        NcType::UInt64 => "uint64".into(),
        NcType::String => "string".into(),
        NcType::Enum { base, .. } => format!("enum<{}>", type_name(base, depth + 1)),
        NcType::Compound { fields, .. } => format!(
            "compound{{{}}}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name, type_name(&f.dtype, depth + 1)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        NcType::Opaque { size, .. } => format!("opaque[{size}]"),
        NcType::Array { base, dims } => format!(
            "{}[{}]",
            type_name(base, depth + 1),
            dims.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        NcType::VLen { base } => format!("vlen<{}>", type_name(base, depth + 1)),
    }
}

fn attribute(a: &NcAttribute) -> AttributeInfo {
    use serde_json::Value;
    fn nums<T: Copy + Into<Value>>(v: &[T]) -> (u64, Option<Vec<Value>>) {
        let n = v.len() as u64;
        let values = (n <= MAX_ATTRIBUTE_ELEMENTS).then(|| v.iter().map(|x| (*x).into()).collect());
        (n, values)
    }
    fn floats(v: impl ExactSizeIterator<Item = f64>) -> (u64, Option<Vec<Value>>) {
        let n = v.len() as u64;
        let values = (n <= MAX_ATTRIBUTE_ELEMENTS).then(|| {
            v.map(|x| {
                serde_json::Number::from_f64(x)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(x.to_string()))
            })
            .collect()
        });
        (n, values)
    }
    let (dtype, (length, values)): (&str, (u64, Option<Vec<Value>>)) = match &a.value {
        NcAttrValue::Bytes(v) => ("byte", nums(v)),
        NcAttrValue::Shorts(v) => ("short", nums(v)),
        NcAttrValue::Ints(v) => ("int", nums(v)),
        NcAttrValue::UBytes(v) => ("ubyte", nums(v)),
        NcAttrValue::UShorts(v) => ("ushort", nums(v)),
        NcAttrValue::UInts(v) => ("uint", nums(v)),
        NcAttrValue::Int64s(v) => ("int64", nums(v)),
        NcAttrValue::UInt64s(v) => ("uint64", nums(v)),
        NcAttrValue::Floats(v) => ("float", floats(v.iter().map(|&x| f64::from(x)))),
        NcAttrValue::Doubles(v) => ("double", floats(v.iter().copied())),
        NcAttrValue::Chars(s) => {
            let small = s.chars().count() <= MAX_ATTRIBUTE_STRING;
            ("char", (1, small.then(|| vec![Value::String(s.clone())])))
        }
        NcAttrValue::Strings(v) => {
            let small = v.len() as u64 <= MAX_ATTRIBUTE_ELEMENTS
                && v.iter().all(|s| s.chars().count() <= MAX_ATTRIBUTE_STRING);
            (
                "string",
                (
                    v.len() as u64,
                    small.then(|| v.iter().cloned().map(Value::String).collect()),
                ),
            )
        }
        NcAttrValue::UserDefined { dtype, values } => {
            return AttributeInfo {
                name: a.name.clone(),
                dtype: type_name(dtype, 0),
                length: values.len() as u64,
                value: None,
            };
        }
    };
    let value = values.map(|mut v| {
        if v.len() == 1 {
            v.pop().unwrap_or(Value::Null)
        } else {
            Value::Array(v)
        }
    });
    AttributeInfo {
        name: a.name.clone(),
        dtype: dtype.to_string(),
        length,
        value,
    }
}
