//! CSV, JSON, JSON Lines and VTK (legacy and XML): fixtures written here, exact metadata asserted.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use simforge_formats::{
    Body, ColumnType, CsvColumn, Format, FormatError, JsonType, LengthRange, Metadata, VtkArray,
    extract,
};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

fn describe(name: &str, bytes: &[u8]) -> Result<Metadata, FormatError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, name, bytes);
    extract(&path, name)
}

fn col(name: &str, kind: ColumnType, nulls: u64) -> CsvColumn {
    CsvColumn {
        name: name.into(),
        kind,
        nulls,
    }
}

fn malformed(result: Result<Metadata, FormatError>) -> String {
    match result {
        Err(e @ FormatError::Malformed { .. }) => e.to_string(),
        other => panic!("expected a Malformed error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_columns_types_and_nulls() {
    let text = "id,temp,ok,label,empty,mixed\n\
                1,1.5,true,a,,1\n\
                2,NA,False,\"b, quoted\",,x\n\
                -3,2e3,TRUE,\"multi\nline\",null,2\n";
    let m = describe("runs.csv", text.as_bytes()).unwrap();
    assert_eq!(m.format(), Format::Csv);
    assert_eq!(m.size_bytes, text.len() as u64);
    let Body::Csv(csv) = m.body else {
        panic!("not CSV: {m:?}")
    };
    assert_eq!(csv.delimiter, ',');
    assert!(csv.has_header);
    assert_eq!(csv.rows, 3);
    assert_eq!(
        csv.columns,
        vec![
            col("id", ColumnType::Integer, 0),
            col("temp", ColumnType::Float, 1),
            col("ok", ColumnType::Boolean, 0),
            col("label", ColumnType::String, 0),
            col("empty", ColumnType::Empty, 3),
            col("mixed", ColumnType::String, 0),
        ]
    );
}

#[test]
fn csv_semicolon_tab_and_headerless() {
    let m = describe("eu.csv", "a;b\n1,5;2\n3,25;4\n".as_bytes()).unwrap();
    let Body::Csv(csv) = m.body else { panic!() };
    assert_eq!(csv.delimiter, ';');
    assert_eq!(csv.rows, 2);
    assert_eq!(
        csv.columns,
        vec![
            col("a", ColumnType::String, 0),
            col("b", ColumnType::Integer, 0)
        ]
    );

    let m = describe("t.tsv", b"x\ty\n1\t2.5\n").unwrap();
    let Body::Csv(csv) = m.body else { panic!() };
    assert_eq!(csv.delimiter, '\t');
    assert_eq!(
        csv.columns,
        vec![
            col("x", ColumnType::Integer, 0),
            col("y", ColumnType::Float, 0)
        ]
    );

    // Every field of the first record is a number: no header.
    let m = describe("raw.csv", b"1,2.5\n3,4\n").unwrap();
    let Body::Csv(csv) = m.body else { panic!() };
    assert!(!csv.has_header);
    assert_eq!(csv.rows, 2);
    assert_eq!(
        csv.columns,
        vec![
            col("column_1", ColumnType::Integer, 0),
            col("column_2", ColumnType::Float, 0)
        ]
    );
}

#[test]
fn csv_header_only_and_empty() {
    let m = describe("h.csv", b"\xEF\xBB\xBFa,b\n").unwrap();
    let Body::Csv(csv) = m.body else { panic!() };
    assert_eq!(csv.rows, 0);
    assert_eq!(
        csv.columns,
        vec![
            col("a", ColumnType::Empty, 0),
            col("b", ColumnType::Empty, 0)
        ]
    );
    let m = describe("e.csv", b"").unwrap();
    let Body::Csv(csv) = m.body else { panic!() };
    assert_eq!((csv.rows, csv.columns.len()), (0, 0));
}

#[test]
fn csv_streams_a_large_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "step,value,name").unwrap();
    for i in 0..200_000u32 {
        writeln!(f, "{i},{}.25,run{}", i % 7, i % 13).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let m = extract(&path, "big.csv").unwrap();
    let Body::Csv(csv) = m.body else { panic!() };
    assert_eq!(csv.rows, 200_000);
    assert_eq!(
        csv.columns,
        vec![
            col("step", ColumnType::Integer, 0),
            col("value", ColumnType::Float, 0),
            col("name", ColumnType::String, 0)
        ]
    );
}

#[test]
fn csv_corrupt() {
    let e = malformed(describe("ragged.csv", b"a,b,c\n1,2,3\n4,5\n"));
    assert!(e.contains("line 3") && e.contains("2 fields"), "{e}");
    let e = malformed(describe("bin.csv", b"a,b\n\x00\x01\x02"));
    assert!(e.contains("NUL"), "{e}");
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_object_keys_and_types() {
    let text = r#"{"name": "run", "n": 3, "x": 1.5, "ok": true, "none": null,
                  "tags": ["a", "b"], "params": {"alpha": 1, "beta": [1, 2.5]}}"#;
    let m = describe("doc.json", text.as_bytes()).unwrap();
    let Body::Json(info) = &m.body else {
        panic!("{m:?}")
    };
    assert_eq!(info.kind, JsonType::Object);
    assert_eq!(info.length, None);
    assert!(!info.truncated);
    let keys: Vec<(&str, Vec<JsonType>)> = info
        .keys
        .iter()
        .map(|k| (k.name.as_str(), k.shape.types.clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("name", vec![JsonType::String]),
            ("n", vec![JsonType::Integer]),
            ("x", vec![JsonType::Float]),
            ("ok", vec![JsonType::Boolean]),
            ("none", vec![JsonType::Null]),
            ("tags", vec![JsonType::Array]),
            ("params", vec![JsonType::Object]),
        ]
    );
    // The stored JSON, for the nested parts.
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(
        v["details"]["keys"][5],
        json!({"name": "tags", "count": 1, "types": ["array"],
               "length": {"min": 2, "max": 2}, "items": {"types": ["string"]}})
    );
    assert_eq!(
        v["details"]["keys"][6]["keys"][1],
        json!({"name": "beta", "count": 1, "types": ["array"],
               "length": {"min": 2, "max": 2}, "items": {"types": ["integer", "float"]}})
    );
}

#[test]
fn json_array_of_objects_unions_keys() {
    let text = r#"[{"a": 1, "b": "x"}, {"a": 2.5, "c": null}, {"a": 3}]"#;
    let m = describe("rows.json", text.as_bytes()).unwrap();
    let Body::Json(info) = m.body else { panic!() };
    assert_eq!(info.kind, JsonType::Array);
    assert_eq!(info.length, Some(3));
    let items = info.items.expect("items");
    assert_eq!(items.types, vec![JsonType::Object]);
    let keys: Vec<(&str, u64, Vec<JsonType>)> = items
        .keys
        .iter()
        .map(|k| (k.name.as_str(), k.count, k.shape.types.clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("a", 3, vec![JsonType::Integer, JsonType::Float]),
            ("b", 1, vec![JsonType::String]),
            ("c", 1, vec![JsonType::Null]),
        ]
    );
}

#[test]
fn json_scalar_and_empty_containers() {
    let m = describe("s.json", b" \"hello\" ").unwrap();
    let Body::Json(info) = m.body else { panic!() };
    assert_eq!(info.kind, JsonType::String);
    let m = describe("e.json", b"[]").unwrap();
    let Body::Json(info) = m.body else { panic!() };
    assert_eq!((info.kind, info.length), (JsonType::Array, Some(0)));
    assert_eq!(info.items.map(|i| i.types), Some(vec![]));
}

#[test]
fn json_description_is_capped() {
    // 1000 distinct keys in one object: capped at 256, and said so.
    let mut text = String::from("{");
    for i in 0..1000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("\"k{i}\": {i}"));
    }
    text.push('}');
    let m = describe("wide.json", text.as_bytes()).unwrap();
    assert!(!m.notes.is_empty());
    let Body::Json(info) = m.body else { panic!() };
    assert!(info.truncated);
    assert_eq!(
        info.keys.len(),
        simforge_formats::limits::JSON_MAX_KEYS_PER_OBJECT
    );

    // Deep nesting: described to MAX_DEPTH levels, then by type only.
    let deep = format!("{}1{}", "[".repeat(20), "]".repeat(20));
    let m = describe("deep.json", deep.as_bytes()).unwrap();
    let Body::Json(info) = m.body else { panic!() };
    assert!(info.truncated);
    let mut shape = info.items.expect("items");
    let mut levels = 1;
    while let Some(inner) = shape.items {
        shape = *inner;
        levels += 1;
    }
    assert_eq!(levels, simforge_formats::limits::JSON_MAX_DEPTH - 1);
    assert_eq!(shape.types, vec![JsonType::Array]);
}

#[test]
fn json_corrupt() {
    let e = malformed(describe("bad.json", b"{\"a\": [1, 2,, 3]}"));
    assert!(e.contains("line 1"), "{e}");
    let e = malformed(describe("cut.json", b"{\"a\": [1, 2"));
    assert!(e.contains("truncated"), "{e}");
    let e = malformed(describe("two.json", b"{}\n{}\n"));
    assert!(e.contains(".jsonl"), "{e}");
    malformed(describe("empty.json", b""));
}

#[test]
fn json_lines_records_and_keys() {
    let text = b"{\"step\": 1, \"loss\": 0.5}\n\n{\"step\": 2, \"loss\": 0.25, \"note\": \"x\"}\n{\"step\": 3}\n";
    let m = describe("log.jsonl", text).unwrap();
    assert_eq!(m.format(), Format::JsonLines);
    let Body::JsonLines(info) = m.body else {
        panic!()
    };
    assert_eq!(info.records, 3);
    assert_eq!(info.shape.types, vec![JsonType::Object]);
    let keys: Vec<(&str, u64)> = info
        .shape
        .keys
        .iter()
        .map(|k| (k.name.as_str(), k.count))
        .collect();
    assert_eq!(keys, vec![("step", 3), ("loss", 2), ("note", 1)]);

    let m = describe("nums.ndjson", b"[1,2]\n[3]\n").unwrap();
    let Body::JsonLines(info) = m.body else {
        panic!()
    };
    assert_eq!(info.records, 2);
    assert_eq!(info.shape.length, Some(LengthRange { min: 1, max: 2 }));

    let e = malformed(describe("bad.jsonl", b"{\"a\": 1}\n{\"a\": }\n"));
    assert!(e.contains("line 2"), "{e}");
}

// ---------------------------------------------------------------- VTK legacy

fn vtk_array(name: &str, role: &str, data_type: &str, components: u64) -> VtkArray {
    VtkArray {
        name: name.into(),
        role: Some(role.into()),
        data_type: data_type.into(),
        components,
    }
}

const UNSTRUCTURED_ASCII: &str = "# vtk DataFile Version 3.0
two tetrahedra
ASCII

DATASET UNSTRUCTURED_GRID
POINTS 5 float
0 0 0  1 0 0  0 1 0
0 0 1  1 1 1
CELLS 2 10
4 0 1 2 3
4 1 2 3 4
CELL_TYPES 2
10
10
POINT_DATA 5
SCALARS temperature double 1
LOOKUP_TABLE default
1 2 3 4 5
VECTORS velocity float
0 0 0 1 1 1 2 2 2 3 3 3 4 4 4
FIELD extra 2
pressure 1 5 float
1 2 3 4 5
stress 2 5 double
1 2 3 4 5 6 7 8 9 10
CELL_DATA 2
SCALARS material int
LOOKUP_TABLE default
1 2
LOOKUP_TABLE my_table 2
0 0 0 1 1 1 1 1
";

#[test]
fn vtk_legacy_ascii_unstructured() {
    let m = describe("mesh.vtk", UNSTRUCTURED_ASCII.as_bytes()).unwrap();
    let Body::VtkLegacy(v) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(v.dataset_type, "UNSTRUCTURED_GRID");
    assert_eq!(v.version, "3.0");
    assert_eq!(v.encoding, "ascii");
    assert_eq!(v.title.as_deref(), Some("two tetrahedra"));
    assert_eq!((v.points, v.cells), (Some(5), Some(2)));
    assert_eq!(
        v.point_data,
        vec![
            vtk_array("temperature", "scalars", "float64", 1),
            vtk_array("velocity", "vectors", "float32", 3),
            vtk_array("pressure", "field", "float32", 1),
            vtk_array("stress", "field", "float64", 2),
        ]
    );
    assert_eq!(
        v.cell_data,
        vec![vtk_array("material", "scalars", "int32", 1)]
    );
}

#[test]
fn vtk_legacy_structured_kinds() {
    let sp = "# vtk DataFile Version 2.0\nimage\nASCII\nDATASET STRUCTURED_POINTS\nDIMENSIONS 3 4 1\nORIGIN 0 0 0\nSPACING 1 1 1\nPOINT_DATA 12\nSCALARS rho float 2\nLOOKUP_TABLE default\n"
        .to_string()
        + &"1 2 ".repeat(12)
        + "\nNORMALS n float\n"
        + &"0 0 1 ".repeat(12)
        + "\nTENSORS t double\n"
        + &"1 0 0 0 1 0 0 0 1\n".repeat(12)
        + "TEXTURE_COORDINATES uv 2 float\n"
        + &"0 1 ".repeat(12)
        + "\nCOLOR_SCALARS rgb 3\n"
        + &"0.5 0.5 0.5\n".repeat(12);
    let m = describe("img.vtk", sp.as_bytes()).unwrap();
    let Body::VtkLegacy(v) = m.body else { panic!() };
    assert_eq!(v.dataset_type, "STRUCTURED_POINTS");
    assert_eq!(v.dimensions, Some(vec![3, 4, 1]));
    assert_eq!((v.points, v.cells), (Some(12), Some(6)));
    assert_eq!(
        v.point_data,
        vec![
            vtk_array("rho", "scalars", "float32", 2),
            vtk_array("n", "normals", "float32", 3),
            vtk_array("t", "tensors", "float64", 9),
            vtk_array("uv", "texture_coordinates", "float32", 2),
            vtk_array("rgb", "color_scalars", "float32", 3),
        ]
    );

    let rg = "# vtk DataFile Version 3.0\nr\nASCII\nDATASET RECTILINEAR_GRID\nDIMENSIONS 2 3 2\nX_COORDINATES 2 float\n0 1\nY_COORDINATES 3 float\n0 1 2\nZ_COORDINATES 2 double\n0 1\nCELL_DATA 2\nSCALARS id unsigned_char\nLOOKUP_TABLE default\n0 1\n";
    let m = describe("r.vtk", rg.as_bytes()).unwrap();
    let Body::VtkLegacy(v) = m.body else { panic!() };
    assert_eq!(v.dataset_type, "RECTILINEAR_GRID");
    assert_eq!((v.points, v.cells), (Some(12), Some(2)));
    assert_eq!(v.cell_data, vec![vtk_array("id", "scalars", "uint8", 1)]);

    let sg = "# vtk DataFile Version 3.0\ns\nASCII\nDATASET STRUCTURED_GRID\nDIMENSIONS 2 2 1\nPOINTS 4 float\n0 0 0 1 0 0 0 1 0 1 1 0\n";
    let m = describe("s.vtk", sg.as_bytes()).unwrap();
    let Body::VtkLegacy(v) = m.body else { panic!() };
    assert_eq!(
        (v.dataset_type.as_str(), v.points, v.cells),
        ("STRUCTURED_GRID", Some(4), Some(1))
    );
}

#[test]
fn vtk_legacy_polydata_and_v51_cells() {
    let pd = "# vtk DataFile Version 3.0\np\nASCII\nDATASET POLYDATA\nPOINTS 4 float\n0 0 0 1 0 0 1 1 0 0 1 0\nVERTICES 1 2\n1 0\nLINES 1 3\n2 0 1\nPOLYGONS 2 8\n3 0 1 2\n3 0 2 3\n";
    let m = describe("p.vtk", pd.as_bytes()).unwrap();
    let Body::VtkLegacy(v) = m.body else { panic!() };
    assert_eq!(
        (v.dataset_type.as_str(), v.points, v.cells),
        ("POLYDATA", Some(4), Some(4))
    );

    let v51 = "# vtk DataFile Version 5.1\nnew\nASCII\nDATASET UNSTRUCTURED_GRID\nPOINTS 4 float\n0 0 0 1 0 0 0 1 0 0 0 1\nMETADATA\nINFORMATION 0\n\nCELLS 3 6\nOFFSETS vtktypeint64\n0 3 6\nCONNECTIVITY vtktypeint64\n0 1 2 1 2 3\nCELL_TYPES 2\n5\n5\nCELL_DATA 2\nFIELD FieldData 1\nq 1 2 vtktypeint64\n7 8\n";
    let m = describe("n.vtk", v51.as_bytes()).unwrap();
    let Body::VtkLegacy(v) = m.body else { panic!() };
    assert_eq!(
        (v.version.as_str(), v.points, v.cells),
        ("5.1", Some(4), Some(2))
    );
    assert_eq!(v.cell_data, vec![vtk_array("q", "field", "int64", 1)]);
}

/// A BINARY legacy file: big-endian payloads whose bytes include newlines and
/// keyword-like text, which must be skipped by length, not scanned.
pub fn binary_vtk() -> Vec<u8> {
    let mut f = b"# vtk DataFile Version 3.0\nbinary grid\nBINARY\nDATASET UNSTRUCTURED_GRID\nPOINTS 3 float\n".to_vec();
    for x in [0.0f32, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0] {
        f.extend_from_slice(&x.to_be_bytes());
    }
    f.extend_from_slice(b"\nCELLS 1 4\n");
    for i in [3i32, 0, 1, 2] {
        f.extend_from_slice(&i.to_be_bytes());
    }
    f.extend_from_slice(b"\nCELL_TYPES 1\n");
    f.extend_from_slice(&5i32.to_be_bytes());
    f.extend_from_slice(b"\nPOINT_DATA 3\nSCALARS s double 1\nLOOKUP_TABLE default\n");
    for x in [1.0f64, f64::from_be_bytes(*b"\nCELLS 9"), 3.0] {
        f.extend_from_slice(&x.to_be_bytes());
    }
    f.extend_from_slice(b"\nCELL_DATA 1\nFIELD f 1\nid 1 1 unsigned_char\n\n\nCOLOR_SCALARS c 4\n\x01\x02\x03\x04\n");
    f
}

#[test]
fn vtk_legacy_binary() {
    let m = describe("b.vtk", &binary_vtk()).unwrap();
    let Body::VtkLegacy(v) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(v.encoding, "binary");
    assert_eq!((v.points, v.cells), (Some(3), Some(1)));
    assert_eq!(v.point_data, vec![vtk_array("s", "scalars", "float64", 1)]);
    assert_eq!(
        v.cell_data,
        vec![
            vtk_array("id", "field", "uint8", 1),
            vtk_array("c", "color_scalars", "uint8", 4)
        ]
    );
}

#[test]
fn vtk_legacy_corrupt() {
    // Cut inside the POINTS data.
    let cut = &UNSTRUCTURED_ASCII[..UNSTRUCTURED_ASCII.find("0 0 1  1 1 1").unwrap()];
    let e = malformed(describe("cut.vtk", cut.as_bytes()));
    assert!(e.contains("truncated") && e.contains("POINTS"), "{e}");
    // A count larger than the data: the next keyword turns up where a value was expected.
    let wrong = UNSTRUCTURED_ASCII.replace("POINTS 5 float", "POINTS 6 float");
    let e = malformed(describe("wrong.vtk", wrong.as_bytes()));
    assert!(e.contains("'CELLS'"), "{e}");
    let bin = binary_vtk();
    malformed(describe("b.vtk", &bin[..bin.len() - 30]));
    malformed(describe(
        "x.vtk",
        b"# vtk DataFile Version 3.0\nt\nTEXT\nDATASET POLYDATA\n",
    ));
    malformed(describe(
        "x.vtk",
        b"# vtk DataFile Version 3.0\nt\nASCII\nDATASET TORUS\n",
    ));
    malformed(describe("x.vtk", b"not a vtk file"));
}

// ---------------------------------------------------------------- VTK XML

const VTU: &str = r#"<?xml version="1.0"?>
<!-- written by a test -->
<VTKFile type="UnstructuredGrid" version="1.0" byte_order="LittleEndian" header_type="UInt64">
  <UnstructuredGrid>
    <Piece NumberOfPoints="4" NumberOfCells="1">
      <PointData Scalars="pressure" Vectors="velocity">
        <DataArray type="Float32" Name="pressure" format="ascii">1 2 3 4</DataArray>
        <DataArray type="Float64" Name="velocity" NumberOfComponents="3" format="ascii">
          0 0 0 1 1 1 2 2 2 3 3 3
        </DataArray>
      </PointData>
      <CellData>
        <DataArray type="Int32" Name="material &amp; id" format="ascii">7</DataArray>
      </CellData>
      <Points>
        <DataArray type="Float32" NumberOfComponents="3" format="ascii">0 0 0 1 0 0 0 1 0 0 0 1</DataArray>
      </Points>
      <Cells>
        <DataArray type="Int64" Name="connectivity" format="ascii">0 1 2 3</DataArray>
        <DataArray type="Int64" Name="offsets" format="ascii">4</DataArray>
        <DataArray type="UInt8" Name="types" format="ascii">10</DataArray>
      </Cells>
    </Piece>
  </UnstructuredGrid>
</VTKFile>
"#;

fn xml_array(name: &str, role: Option<&str>, data_type: &str, components: u64) -> VtkArray {
    VtkArray {
        name: name.into(),
        role: role.map(str::to_string),
        data_type: data_type.into(),
        components,
    }
}

#[test]
fn vtk_xml_unstructured() {
    let m = describe("mesh.vtu", VTU.as_bytes()).unwrap();
    let Body::VtkXml(v) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(v.dataset_type, "UnstructuredGrid");
    assert_eq!(v.version, "1.0");
    assert_eq!(v.encoding, "ascii");
    assert_eq!((v.points, v.cells, v.pieces), (Some(4), Some(1), Some(1)));
    assert_eq!(
        v.point_data,
        vec![
            xml_array("pressure", Some("scalars"), "float32", 1),
            xml_array("velocity", Some("vectors"), "float64", 3),
        ]
    );
    assert_eq!(
        v.cell_data,
        vec![xml_array("material & id", None, "int32", 1)]
    );
}

#[test]
fn vtk_xml_image_polydata_appended_and_parallel() {
    let vti = r#"<VTKFile type="ImageData" version="0.1" byte_order="LittleEndian" compressor="vtkZLibDataCompressor">
<ImageData WholeExtent="0 9 0 4 0 0" Origin="0 0 0" Spacing="1 1 1">
<Piece Extent="0 9 0 4 0 0"><PointData><DataArray type="Float64" Name="phi" format="binary">AAAAAAAAAAA=</DataArray></PointData><CellData/></Piece>
</ImageData></VTKFile>"#;
    let m = describe("field.vti", vti.as_bytes()).unwrap();
    let Body::VtkXml(v) = m.body else { panic!() };
    assert_eq!(v.dataset_type, "ImageData");
    assert_eq!(v.dimensions, Some(vec![10, 5, 1]));
    assert_eq!((v.points, v.cells), (Some(50), Some(36)));
    assert_eq!(v.encoding, "binary");
    assert_eq!(v.compressor.as_deref(), Some("vtkZLibDataCompressor"));
    assert_eq!(v.point_data, vec![xml_array("phi", None, "float64", 1)]);

    // Appended raw data: arbitrary bytes after '_', including '<' and invalid UTF-8.
    let mut vtp = br#"<?xml version="1.0"?>
<VTKFile type="PolyData" version="1.0" byte_order="LittleEndian" header_type="UInt32">
<PolyData>
<Piece NumberOfPoints="3" NumberOfVerts="0" NumberOfLines="1" NumberOfStrips="0" NumberOfPolys="1">
<PointData><DataArray type="UInt16" Name="label" format="appended" offset="0"/></PointData>
<Points><DataArray type="Float32" NumberOfComponents="3" format="appended" offset="16"/></Points>
</Piece>
</PolyData>
<AppendedData encoding="raw">
_"#
    .to_vec();
    vtp.extend_from_slice(b"\x00\xff<</VTKFile>\xfe\x00 <Piece NumberOfPoints=\"99\">");
    vtp.extend_from_slice(b"\n</AppendedData>\n</VTKFile>\n");
    let m = describe("lines.vtp", &vtp).unwrap();
    let Body::VtkXml(v) = m.body else { panic!() };
    assert_eq!(v.dataset_type, "PolyData");
    assert_eq!((v.points, v.cells), (Some(3), Some(2)));
    assert_eq!(v.encoding, "appended");
    assert_eq!(v.point_data, vec![xml_array("label", None, "uint16", 1)]);

    let pvtu = r#"<VTKFile type="PUnstructuredGrid" version="1.0">
<PUnstructuredGrid GhostLevel="0">
<PPointData><PDataArray type="Float32" Name="p"/></PPointData>
<PPoints><PDataArray type="Float32" NumberOfComponents="3"/></PPoints>
<Piece Source="part_0.vtu"/><Piece Source="part_1.vtu"/>
</PUnstructuredGrid></VTKFile>"#;
    let m = describe("all.pvtu", pvtu.as_bytes()).unwrap();
    let Body::VtkXml(v) = m.body else { panic!() };
    assert_eq!(v.dataset_type, "PUnstructuredGrid");
    assert_eq!((v.points, v.cells, v.pieces), (None, None, Some(2)));
    assert_eq!(v.encoding, "none");
    assert_eq!(v.point_data, vec![xml_array("p", None, "float32", 1)]);
}

#[test]
fn vtk_xml_corrupt() {
    let cut = &VTU[..VTU.find("<Cells>").unwrap()];
    let e = malformed(describe("cut.vtu", cut.as_bytes()));
    assert!(e.contains("truncated"), "{e}");
    let e = malformed(describe(
        "x.vtu",
        VTU.replace("</CellData>", "</PointData>").as_bytes(),
    ));
    assert!(e.contains("closes"), "{e}");
    malformed(describe("x.vtu", b"<html><body/></html>"));
    malformed(describe("x.vtu", b""));
    malformed(describe(
        "x.vtu",
        VTU.replace("Float32", "Float33").as_bytes(),
    ));
    malformed(describe(
        "x.vtu",
        VTU.replace("NumberOfPoints=\"4\"", "NumberOfPoints=\"four\"")
            .as_bytes(),
    ));
}
