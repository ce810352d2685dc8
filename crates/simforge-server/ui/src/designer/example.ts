// The example topology: examples/sysdesign/system.yaml itself, bundled at build
// time (so the designer's example is the file the docs and the CLI use; CI's
// fresh-build check catches a stale copy).
import EXAMPLE from '../../../../../examples/sysdesign/system.yaml?raw';

export const EXAMPLE_TOPOLOGY: string = EXAMPLE;
