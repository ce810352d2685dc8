//! Saltelli's sampling scheme for Sobol' sensitivity indices (Saltelli 2002;
//! Saltelli et al. 2010), laid out as SALib's `saltelli.sample`.

use super::{DesignError, UnitDesign, sobol};

/// For each of `n` base rows, the rows `A`, `AB⁽ⁱ⁾` for every input `i`, then (with
/// `second_order`) `BA⁽ⁱ⁾`, then `B`; `A` and `B` are the two halves of a Sobol'
/// point in `2·dims` dimensions (scrambled with `seed` if given). `AB⁽ⁱ⁾` is `A`
/// with column `i` taken from `B`. Rows are tagged `A:j`, `AB<i>:j`, `BA<i>:j`,
/// `B:j` so the estimators can find them.
pub fn points(
    n: usize,
    dims: usize,
    seed: Option<u64>,
    second_order: bool,
) -> Result<UnitDesign, DesignError> {
    if 2 * dims > sobol::MAX_DIMS {
        return Err(DesignError::TooManyDimensions {
            sampler: "saltelli",
            max: sobol::MAX_DIMS / 2,
            requested: dims,
        });
    }
    let base = sobol::points(n, 2 * dims, seed)?;
    let per = if second_order { 2 * dims + 2 } else { dims + 2 };
    let mut values = Vec::with_capacity(n.saturating_mul(per).saturating_mul(dims));
    let mut tags = Vec::with_capacity(n.saturating_mul(per));
    for j in 0..n {
        let row = base.row(j).unwrap_or(&[]);
        let (a, b) = row.split_at(dims);
        values.extend_from_slice(a);
        tags.push(format!("A:{j}"));
        for i in 0..dims {
            values.extend(
                a.iter()
                    .enumerate()
                    .map(|(k, v)| if k == i { b[k] } else { *v }),
            );
            tags.push(format!("AB{i}:{j}"));
        }
        if second_order {
            for i in 0..dims {
                values.extend(
                    b.iter()
                        .enumerate()
                        .map(|(k, v)| if k == i { a[k] } else { *v }),
                );
                tags.push(format!("BA{i}:{j}"));
            }
        }
        values.extend_from_slice(b);
        tags.push(format!("B:{j}"));
    }
    Ok(UnitDesign {
        dims,
        values,
        tags: Some(tags),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_laid_out_as_salib() {
        let (n, d) = (8, 3);
        let s = points(n, d, Some(4), false).unwrap();
        assert_eq!(s.len(), n * (d + 2));
        let tags = s.tags.as_ref().unwrap();
        assert_eq!(&tags[..5], ["A:0", "AB0:0", "AB1:0", "AB2:0", "B:0"]);
        for j in 0..n {
            let a = s.row(j * (d + 2)).unwrap();
            let b = s.row(j * (d + 2) + d + 1).unwrap();
            for i in 0..d {
                let ab = s.row(j * (d + 2) + 1 + i).unwrap();
                for k in 0..d {
                    assert_eq!(ab[k], if k == i { b[k] } else { a[k] });
                }
            }
        }
        let s2 = points(n, d, Some(4), true).unwrap();
        assert_eq!(s2.len(), n * (2 * d + 2));
        assert_eq!(s2.tags.as_ref().unwrap()[4], "BA0:0");
        let (a, b, ba0) = (s2.row(0).unwrap(), s2.row(7).unwrap(), s2.row(4).unwrap());
        assert_eq!(ba0, &[a[0], b[1], b[2]]);
    }

    #[test]
    fn too_many_dimensions() {
        assert!(points(4, 600, None, false).is_err());
    }
}
