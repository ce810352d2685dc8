//! `phasefield`: Allen–Cahn and Cahn–Hilliard in 2-D (issue 5, in progress).
