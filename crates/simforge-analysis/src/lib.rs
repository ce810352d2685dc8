//! Statistics, plots and reports over simforge results.
