import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, canSubmitSomewhere, type Me, type SimulateResult } from '../api';
import { ErrorBox, PageTitle } from '../components';
import { highlightYaml } from '../highlight';
import {
  cannotConnect,
  connect,
  defaults,
  disconnect,
  edges as edgesOfDesign,
  emptyDesign,
  freeName,
  fromYaml,
  remove,
  rename,
  toYaml,
  TYPE_LABEL,
  TYPES,
  type CompType,
  type Design,
  type Props,
} from '../designer/model';
import { EDGE_KEYS, FIELDS, getPath, setPath, type Field } from '../designer/fields';
import { EXAMPLE_TOPOLOGY } from '../designer/example';
import { type Change, Experiments } from '../designer/Experiments';

// --- layout ------------------------------------------------------------------------

type Pos = Record<string, { x: number; y: number }>;
interface Snapshot {
  design: Design;
  pos: Pos;
}

const W = 136; // node box
const H = 52;
const COL = 180;
const ROW = 90;
const MARGIN = 30;
const STORE = 'simforge.designer';

/** Layers by longest path from the components nobody sends to; cycle-safe. */
function autoLayout(d: Design, keep: Pos = {}): Pos {
  const es = edgesOfDesign(d);
  const layer: Record<string, number> = {};
  const incoming = new Set(es.map((e) => e.to));
  for (const c of d.components) if (!incoming.has(c.name)) layer[c.name] = 0;
  for (let pass = 0; pass < d.components.length; pass++)
    for (const e of es) if (layer[e.from] !== undefined && (layer[e.to] ?? -1) < layer[e.from] + 1 && layer[e.from] + 1 < d.components.length) layer[e.to] = layer[e.from] + 1;
  const rows: Record<number, number> = {};
  const pos: Pos = {};
  for (const c of d.components) {
    if (keep[c.name]) {
      pos[c.name] = keep[c.name];
      continue;
    }
    const l = layer[c.name] ?? 0;
    const r = (rows[l] = (rows[l] ?? -1) + 1);
    pos[c.name] = { x: MARGIN + l * COL, y: MARGIN + r * ROW };
  }
  return pos;
}

function freeSpot(pos: Pos): { x: number; y: number } {
  const taken = Object.values(pos);
  for (let i = 0; ; i++) {
    const x = MARGIN + (i % 4) * COL;
    const y = MARGIN + Math.floor(i / 4) * ROW;
    if (!taken.some((p) => Math.abs(p.x - x) < W && Math.abs(p.y - y) < H + 10)) return { x, y };
  }
}

function loadStored(): Snapshot | null {
  try {
    const s = JSON.parse(localStorage.getItem(STORE) ?? 'null');
    if (s && s.design && Array.isArray(s.design.components)) return { design: s.design, pos: s.pos ?? {} };
  } catch {
    // A corrupt entry: start afresh.
  }
  return null;
}

function initial(): Snapshot {
  const s = loadStored();
  if (s) return { design: s.design, pos: autoLayout(s.design, s.pos) };
  const d = fromYaml(EXAMPLE_TOPOLOGY);
  return { design: d, pos: autoLayout(d) };
}

// --- history -------------------------------------------------------------------------

interface History {
  past: Snapshot[];
  present: Snapshot;
  future: Snapshot[];
  /** Consecutive edits with the same key (typing into one field) make one undo step. */
  lastKey?: string;
}

const LIMIT = 200;

// --- helpers -----------------------------------------------------------------------------

const fmt = (v: number | undefined | null, digits = 3) => (v == null || !Number.isFinite(v) ? '—' : Number(v.toPrecision(digits)).toLocaleString('en'));
const ms = (v: number | undefined) => (v == null ? '—' : `${fmt(v)} ms`);

/** Utilisation colour: green below 50%, amber to 80%, red above (and the level in words). */
function utilClass(u: number | undefined): { cls: string; word: string } {
  if (u == null) return { cls: '', word: '' };
  if (u >= 0.8) return { cls: 'u-high', word: 'high' };
  if (u >= 0.5) return { cls: 'u-mid', word: 'medium' };
  return { cls: 'u-low', word: 'low' };
}

function download(name: string, text: string, type = 'text/yaml') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const slug = (s: unknown) => (typeof s === 'string' && s.trim() ? s.trim().replace(/[^\w.-]+/g, '-') : 'system');

// --- the page ---------------------------------------------------------------------------

export function Designer({ me }: { me: Me }) {
  const [h, setH] = useState<History>(() => ({ past: [], present: initial(), future: [] }));
  const { design, pos } = h.present;
  const [selected, setSelected] = useState<string | null>(null);
  const [drag, setDrag] = useState<{ name: string; dx: number; dy: number; x: number; y: number; moved: boolean } | null>(null);
  const [link, setLink] = useState<{ from: string; x: number; y: number } | null>(null);
  const [notice, setNotice] = useState<string>('');
  const [result, setResult] = useState<{ r: SimulateResult; yaml: string }>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [exporting, setExporting] = useState<string>('');
  const [paste, setPaste] = useState('');
  const svg = useRef<SVGSVGElement>(null);

  const yaml = useMemo(() => toYaml(design), [design]);
  const es = useMemo(() => edgesOfDesign(design), [design]);
  const comp = design.components.find((c) => c.name === selected);

  useEffect(() => {
    try {
      localStorage.setItem(STORE, JSON.stringify(h.present));
    } catch {
      // Storage full or disabled: the design lives on in the page.
    }
  }, [h.present]);

  const commit = (f: (s: Snapshot) => Snapshot, key?: string) =>
    setH((cur) => {
      const next = f(cur.present);
      if (next === cur.present) return cur;
      if (key && key === cur.lastKey) return { ...cur, present: next, future: [] };
      return { past: [...cur.past, cur.present].slice(-LIMIT), present: next, future: [], lastKey: key };
    });
  const undo = () =>
    setH((cur) => (cur.past.length ? { past: cur.past.slice(0, -1), present: cur.past[cur.past.length - 1], future: [cur.present, ...cur.future] } : cur));
  const redo = () => setH((cur) => (cur.future.length ? { past: [...cur.past, cur.present], present: cur.future[0], future: cur.future.slice(1) } : cur));

  const say = (s: string) => setNotice(s);

  const add = (type: CompType, at?: { x: number; y: number }) => {
    const name = freeName(design, type === 'load_balancer' ? 'lb' : type === 'stream_processor' ? 'processor' : type);
    commit((s) => ({
      design: { ...s.design, components: [...s.design.components, { name, type, props: defaults(type) }] },
      pos: { ...s.pos, [name]: at ?? freeSpot(s.pos) },
    }));
    setSelected(name);
    say(`Added ${TYPE_LABEL[type].toLowerCase()} ${name}.`);
  };

  const del = (name: string) => {
    commit((s) => {
      const p = { ...s.pos };
      delete p[name];
      return { design: remove(s.design, name), pos: p };
    });
    setSelected(null);
    say(`Deleted ${name}.`);
  };

  const link2 = (from: string, to: string) => {
    const why = cannotConnect(design, from, to);
    if (why) return say(`Cannot connect ${from} to ${to}: ${why}.`);
    commit((s) => ({ ...s, design: connect(s.design, from, to) }));
    say(`Connected ${from} to ${to}.`);
  };

  const setProps = (name: string, f: (p: Props) => Props, key: string) =>
    commit((s) => ({ ...s, design: { ...s.design, components: s.design.components.map((c) => (c.name === name ? { ...c, props: f(c.props) } : c)) } }), `${name}:${key}`);

  const setGlobal = (path: string[], v: unknown) => commit((s) => ({ ...s, design: { ...s.design, globals: setPath(s.design.globals, path, v) } }), `global:${path.join('.')}`);

  const doRename = (from: string, to: string) => {
    to = to.trim();
    if (!to || to === from) return;
    if (!/^[A-Za-z_][\w-]*$/.test(to)) return say(`"${to}" is not a usable name: letters, digits, _ and - only.`);
    if (design.components.some((c) => c.name === to)) return say(`There is already a component named ${to}.`);
    commit((s) => {
      const p: Pos = {};
      for (const [k, v] of Object.entries(s.pos)) p[k === from ? to : k] = v;
      return { design: rename(s.design, from, to), pos: p };
    });
    setSelected(to);
  };

  /** Sets property values found by an experiment: one undoable edit. */
  const apply = (changes: Change[], what: string) => {
    const missing = changes.filter((c) => !design.components.some((x) => x.name === c.comp)).map((c) => c.comp);
    commit((s) => ({
      ...s,
      design: {
        ...s.design,
        components: s.design.components.map((c) => {
          let props = c.props;
          for (const ch of changes) if (ch.comp === c.name) props = setPath(props, ch.path, ch.value);
          return props === c.props ? c : { ...c, props };
        }),
      },
    }));
    const first = changes.find((c) => !missing.includes(c.comp));
    if (first) setSelected(first.comp);
    say(
      `Applied ${what}: ${changes.map((c) => `${c.comp}.${c.path.join('.')} = ${c.value}`).join(', ')}.${missing.length ? ` Not in the design any more: ${[...new Set(missing)].join(', ')}.` : ''}`,
    );
  };

  const load = (text: string, what: string) => {
    try {
      const d = fromYaml(text);
      const stored = loadStored();
      commit(() => ({ design: d, pos: autoLayout(d, stored && stored.design.globals.name === d.globals.name ? filterPos(stored.pos, d) : {}) }));
      setSelected(null);
      setResult(undefined);
      say(`Loaded ${what}: ${d.components.length} components.`);
      return true;
    } catch (e) {
      say(`Cannot load ${what}: ${(e as Error).message}`);
      return false;
    }
  };

  // Undo/redo and Delete from the keyboard (not while typing in a field: it has its own undo).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      if (typing) return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && (e.key === 'z' || e.key === 'Z')) {
        e.preventDefault();
        e.shiftKey ? redo() : undo();
      } else if (mod && (e.key === 'y' || e.key === 'Y')) {
        e.preventDefault();
        redo();
      } else if ((e.key === 'Delete' || e.key === 'Backspace') && selected && t.closest?.('.designer')) {
        e.preventDefault();
        del(selected);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  // --- canvas pointer handling ---
  const toSvg = (e: { clientX: number; clientY: number }) => {
    const s = svg.current!;
    const m = s.getScreenCTM();
    if (!m) return { x: e.clientX, y: e.clientY };
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return { x: p.x, y: p.y };
  };
  const hit = (p: { x: number; y: number }) =>
    design.components.find((c) => {
      const q = pos[c.name];
      return q && p.x >= q.x && p.x <= q.x + W && p.y >= q.y && p.y <= q.y + H;
    })?.name;

  const shown: Pos = drag && drag.moved ? { ...pos, [drag.name]: { x: drag.x, y: drag.y } } : pos;
  const width = Math.max(760, ...Object.values(shown).map((p) => p.x + W + MARGIN));
  const height = Math.max(480, ...Object.values(shown).map((p) => p.y + H + MARGIN));

  const onMove = (e: PointerEvent) => {
    if (drag) {
      const p = toSvg(e);
      const x = Math.max(0, Math.round(p.x - drag.dx));
      const y = Math.max(0, Math.round(p.y - drag.dy));
      if (drag.moved || Math.abs(x - pos[drag.name].x) + Math.abs(y - pos[drag.name].y) > 3) setDrag({ ...drag, x, y, moved: true });
    } else if (link) setLink({ ...link, ...toSvg(e) });
  };
  const onUp = (e: PointerEvent) => {
    if (drag) {
      if (drag.moved) commit((s) => ({ ...s, pos: { ...s.pos, [drag.name]: { x: drag.x, y: drag.y } } }));
      setDrag(null);
    } else if (link) {
      const to = hit(toSvg(e));
      if (to && to !== link.from) link2(link.from, to);
      setLink(null);
    }
  };

  const res = result?.r;
  const stale = result && result.yaml !== yaml;
  const util = (name: string) => res?.components[name]?.measures.utilisation?.mean;
  const edgeThroughput = (from: string, to: string) => res?.edges.find((e) => e.from === from && e.to === to)?.throughput ?? null;

  const simulate = async () => {
    setBusy(true);
    setError(undefined);
    const text = yaml;
    try {
      const r = await api.simulate(text);
      setResult({ r, yaml: text });
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
    } finally {
      setBusy(false);
    }
  };

  const doExport = async (format: 'compose' | 'kubernetes') => {
    setExporting(format);
    setError(undefined);
    try {
      const text = await api.exportTopology(yaml, format);
      const name = `${slug(design.globals.name)}-${format === 'compose' ? 'compose' : 'k8s'}.yaml`;
      download(name, text);
      say(`Downloaded ${name}.`);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
    } finally {
      setExporting('');
    }
  };

  return (
    <div class="designer">
      <PageTitle title="System designer" />
      <p class="muted small">
        Sketch a distributed system, simulate it with <code>sysdesign</code> (docs/sysdesign.md), and export it. Durations in ms, rates per second.
        {!canSubmitSomewhere(me) && ' Simulating needs the member role in some project.'}
      </p>
      <p class="small-screen-notice" role="note">
        On a small screen the canvas scrolls inside its box: the add buttons and the panels below do everything it does.
      </p>
      <div class="toolbar designer-toolbar" role="toolbar" aria-label="Design">
        <button type="button" class="secondary" data-testid="undo" onClick={undo} disabled={h.past.length === 0} aria-keyshortcuts="Control+Z">
          Undo
        </button>
        <button type="button" class="secondary" data-testid="redo" onClick={redo} disabled={h.future.length === 0} aria-keyshortcuts="Control+Shift+Z">
          Redo
        </button>
        <button type="button" data-testid="simulate" onClick={simulate} disabled={busy || design.components.length === 0} aria-busy={busy}>
          {busy ? 'Simulating…' : 'Simulate'}
        </button>
        <button type="button" class="secondary" data-testid="export-compose" onClick={() => doExport('compose')} disabled={!!exporting}>
          Export docker-compose
        </button>
        <button type="button" class="secondary" data-testid="export-kubernetes" onClick={() => doExport('kubernetes')} disabled={!!exporting}>
          Export Kubernetes
        </button>
        <button type="button" class="secondary" data-testid="save-yaml" onClick={() => download(`${slug(design.globals.name)}.yaml`, yaml)}>
          Save YAML
        </button>
        <label class="file-button secondary">
          Load YAML…
          <input
            type="file"
            accept=".yaml,.yml,text/yaml"
            data-testid="load-yaml"
            class="sr-only"
            onChange={async (e) => {
              const input = e.currentTarget;
              const f = input.files?.[0];
              if (f) load(await f.text(), f.name);
              input.value = '';
            }}
          />
        </label>
        <button type="button" class="secondary" data-testid="load-example" onClick={() => load(EXAMPLE_TOPOLOGY, 'the example')}>
          Example
        </button>
        <button
          type="button"
          class="secondary"
          data-testid="new-design"
          onClick={() => {
            commit(() => ({ design: emptyDesign(), pos: {} }));
            setSelected(null);
            setResult(undefined);
            say('Started an empty design.');
          }}
        >
          New
        </button>
      </div>
      <p class="sr-only" role="status" aria-live="polite" data-testid="designer-notice">
        {notice}
      </p>
      {notice && (
        <p class="notice small" aria-hidden="true">
          {notice}
        </p>
      )}
      {busy && (
        <p class="busy" role="status" data-testid="simulating">
          <span class="spinner" aria-hidden="true" /> Simulating the design — this may take a few seconds…
        </p>
      )}
      {error && (
        <div data-testid="designer-error">
          <ErrorBox error={error} title="The server refused the design" />
        </div>
      )}
      <div class="designer-grid">
        <section class="palette" aria-labelledby="palette-title">
          <h2 id="palette-title">Components</h2>
          <p class="muted small">Drag onto the canvas, or add.</p>
          <ul>
            {TYPES.map((t) => (
              <li
                key={t}
                class={`pal t-${t}`}
                draggable
                data-testid={`palette-${t}`}
                onDragStart={(e) => {
                  e.dataTransfer?.setData('application/x-simforge-type', t);
                  e.dataTransfer?.setData('text/plain', t);
                }}
              >
                <span>{TYPE_LABEL[t]}</span>
                <button type="button" class="secondary tiny" data-testid={`add-${t}`} aria-label={`Add a ${TYPE_LABEL[t].toLowerCase()}`} onClick={() => add(t)}>
                  Add
                </button>
              </li>
            ))}
          </ul>
        </section>

        <section class="canvas-wrap" aria-label="Canvas">
          <svg
            ref={svg}
            class={`canvas${link ? ' linking' : ''}`}
            width={width}
            height={height}
            // Shrinks a wide design to the canvas, down to 70%; beyond that the canvas scrolls.
            style={{ width: `max(${Math.round(width * 0.7)}px, min(100%, ${width}px))`, height: 'auto' }}
            viewBox={`0 0 ${width} ${height}`}
            role="group"
            aria-label={`Design ${String(design.globals.name ?? '')}: ${design.components.length} components, ${es.length} connections`}
            onPointerMove={onMove}
            onPointerUp={onUp}
            onPointerLeave={() => {
              setLink(null);
            }}
            onPointerDown={(e) => {
              if (e.target === svg.current) setSelected(null);
            }}
            onDragOver={(e) => e.preventDefault()}
            onDrop={(e) => {
              e.preventDefault();
              const t = (e.dataTransfer?.getData('application/x-simforge-type') || e.dataTransfer?.getData('text/plain')) as CompType;
              if (!TYPES.includes(t)) return;
              const p = toSvg(e);
              add(t, { x: Math.max(0, Math.round(p.x - W / 2)), y: Math.max(0, Math.round(p.y - H / 2)) });
            }}
          >
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
              </marker>
            </defs>
            {es.map((e) => {
              const a = shown[e.from];
              const b = shown[e.to];
              if (!a || !b) return null;
              const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
              const back = x2 < x1;
              const d = back
                ? `M${x1},${y1} C${x1 + 60},${y1 + 70} ${x2 - 60},${y2 + 70} ${x2},${y2}`
                : `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;
              const tp = edgeThroughput(e.from, e.to);
              return (
                <g key={`${e.from}->${e.to}`} class="edge" data-testid={`edge-${e.from}-${e.to}`}>
                  <title>{`${e.from} → ${e.to} (${e.via})${tp != null ? `: ${fmt(tp)}/s` : ''}`}</title>
                  <path d={d} marker-end="url(#arrow)" />
                  {tp != null && (
                    <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 6 + (back ? 50 : 0)} class="edge-label" text-anchor="middle">
                      {fmt(tp)}/s
                    </text>
                  )}
                </g>
              );
            })}
            {link && shown[link.from] && <line class="rubber" x1={shown[link.from].x + W} y1={shown[link.from].y + H / 2} x2={link.x} y2={link.y} />}
            {design.components.map((c) => {
              const p = shown[c.name] ?? { x: 0, y: 0 };
              const u = util(c.name);
              const uc = utilClass(u);
              const isBottleneck = res && !stale && res.bottleneck === c.name;
              return (
                <g
                  key={c.name}
                  transform={`translate(${p.x},${p.y})`}
                  class={`node t-${c.type} ${uc.cls}${selected === c.name ? ' selected' : ''}${isBottleneck ? ' bottleneck' : ''}`}
                  data-testid={`node-${c.name}`}
                  tabIndex={0}
                  role="button"
                  aria-pressed={selected === c.name}
                  aria-label={`${c.name}, ${c.type.replace('_', ' ')}${u != null ? `, utilisation ${Math.round(u * 100)}% (${uc.word})` : ''}${isBottleneck ? ', bottleneck' : ''}`}
                  onPointerDown={(e) => {
                    if ((e.target as Element).classList.contains('port')) return;
                    e.preventDefault();
                    (e.currentTarget as Element).closest('svg')?.setPointerCapture?.(e.pointerId);
                    const q = toSvg(e);
                    setSelected(c.name);
                    setDrag({ name: c.name, dx: q.x - p.x, dy: q.y - p.y, x: p.x, y: p.y, moved: false });
                  }}
                  onFocus={() => setSelected(c.name)}
                  onKeyDown={(e) => {
                    const step = e.shiftKey ? 50 : 10;
                    const mv = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
                    if (mv) {
                      e.preventDefault();
                      commit((s) => ({ ...s, pos: { ...s.pos, [c.name]: { x: Math.max(0, p.x + mv[0]), y: Math.max(0, p.y + mv[1]) } } }), `move:${c.name}`);
                    }
                  }}
                >
                  <rect width={W} height={H} rx={8} class="box" />
                  <text x={10} y={21} class="node-name">
                    {c.name.length > 15 ? `${c.name.slice(0, 14)}…` : c.name}
                  </text>
                  <text x={10} y={40} class="node-type">
                    {c.type.replace('_', ' ')}
                    {u != null ? ` · ${Math.round(u * 100)}%` : ''}
                  </text>
                  {c.type !== 'sink' && (
                    <circle
                      class="port"
                      cx={W}
                      cy={H / 2}
                      r={7}
                      data-testid={`port-${c.name}`}
                      onPointerDown={(e) => {
                        e.preventDefault();
                        e.stopPropagation();
                        (e.currentTarget as Element).closest('svg')?.setPointerCapture?.(e.pointerId);
                        setLink({ from: c.name, ...toSvg(e) });
                      }}
                    >
                      <title>Drag to another component to connect</title>
                    </circle>
                  )}
                </g>
              );
            })}
          </svg>
          <div class="legend" aria-label="Utilisation colours">
            <span class="sw u-low" /> below 50% <span class="sw u-mid" /> 50–80% <span class="sw u-high" /> 80% and more
            <span class="muted"> · utilisation, after a simulation</span>
          </div>
        </section>

        <aside class="side" aria-label="Properties">
          {comp ? (
            <ComponentPanel
              key={comp.name}
              design={design}
              name={comp.name}
              onRename={(to) => doRename(comp.name, to)}
              onType={(t) => commit((s) => ({ ...s, design: { ...s.design, components: s.design.components.map((c) => (c.name === comp.name ? { ...c, type: t, props: { ...defaults(t as CompType), ...pick(c.props, EDGE_KEYS.concat(['cost_per_hour', 'description'])) } } : c)) } }))}
              onProps={(f, key) => setProps(comp.name, f, key)}
              onConnect={(to) => link2(comp.name, to)}
              onDisconnect={(to) => {
                commit((s) => ({ ...s, design: disconnect(s.design, comp.name, to) }));
                say(`Disconnected ${comp.name} from ${to}.`);
              }}
              onDelete={() => del(comp.name)}
            />
          ) : (
            <p class="muted">Select a component to edit it.</p>
          )}
          <GlobalPanel globals={design.globals} onSet={setGlobal} />
        </aside>
      </div>

      <Results res={res} stale={!!stale} />

      <Experiments me={me} design={design} yaml={yaml} onApply={apply} />

      <details class="yaml-preview">
        <summary>Topology YAML</summary>
        <pre class="code-view" data-testid="designer-yaml">
          <code dangerouslySetInnerHTML={{ __html: highlightYaml(yaml) }} />
        </pre>
        <label for="paste-yaml">Paste a topology to load it</label>
        <textarea id="paste-yaml" data-testid="paste-yaml" rows={8} value={paste} spellcheck={false} onInput={(e) => setPaste(e.currentTarget.value)} />
        <button type="button" class="secondary" data-testid="paste-load" disabled={!paste.trim()} onClick={() => load(paste, 'the pasted topology') && setPaste('')}>
          Load pasted YAML
        </button>
      </details>
    </div>
  );
}

const filterPos = (p: Pos, d: Design): Pos => Object.fromEntries(Object.entries(p).filter(([k]) => d.components.some((c) => c.name === k)));
const pick = (p: Props, keys: string[]): Props => Object.fromEntries(Object.entries(p).filter(([k]) => keys.includes(k)));

// --- side panel ----------------------------------------------------------------------------

function ComponentPanel({
  design,
  name,
  onRename,
  onType,
  onProps,
  onConnect,
  onDisconnect,
  onDelete,
}: {
  design: Design;
  name: string;
  onRename: (to: string) => void;
  onType: (t: string) => void;
  onProps: (f: (p: Props) => Props, key: string) => void;
  onConnect: (to: string) => void;
  onDisconnect: (to: string) => void;
  onDelete: () => void;
}) {
  const c = design.components.find((x) => x.name === name)!;
  const [nm, setNm] = useState(name);
  const [target, setTarget] = useState('');
  const fields = FIELDS[c.type] ?? [];
  const known = new Set([...fields.map((f) => f.path[0]), ...EDGE_KEYS, 'retries']);
  const other = Object.keys(c.props).filter((k) => !known.has(k));
  const out = edgesOfDesign(design).filter((e) => e.from === name);
  const candidates = design.components.filter((x) => !cannotConnect(design, name, x.name));

  return (
    <section class="panel" aria-labelledby="comp-title">
      <h2 id="comp-title">
        {TYPE_LABEL[c.type as CompType] ?? c.type} <span class="name">{name}</span>
      </h2>
      <div class="field">
        <label for="prop-name">Name</label>
        <input
          id="prop-name"
          data-testid="prop-name"
          value={nm}
          spellcheck={false}
          onInput={(e) => setNm(e.currentTarget.value)}
          onChange={() => onRename(nm)}
          onKeyDown={(e) => e.key === 'Enter' && onRename(nm)}
        />
      </div>
      <div class="field">
        <label for="prop-type">Type</label>
        <select id="prop-type" data-testid="prop-type" value={c.type} onChange={(e) => onType(e.currentTarget.value)}>
          {TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </div>
      {fields.map((f) => (
        <FieldInput key={f.key} f={f} props={c.props} onProps={onProps} />
      ))}
      {(c.type === 'service' || c.type === 'database' || c.type === 'cache' || c.type === 'load_balancer') && (
        <NumberInput
          id="prop-retries"
          label="Retries"
          help="extra tries after a timeout or a full queue"
          value={typeof c.props.retries === 'object' && c.props.retries ? (getPath(c.props, ['retries', 'max']) as number | undefined) : (c.props.retries as number | undefined)}
          int
          min={0}
          onSet={(v) => onProps((p) => (typeof p.retries === 'object' && p.retries ? setPath(p, ['retries', 'max'], v) : setPath(p, ['retries'], v)), 'retries')}
        />
      )}
      <h3>Sends to</h3>
      {out.length === 0 ? (
        <p class="muted small">nothing yet</p>
      ) : (
        <ul class="conns">
          {out.map((e) => (
            <li key={e.to}>
              <span class="name">{e.to}</span> <span class="muted small">({e.via})</span>{' '}
              <button type="button" class="secondary tiny" data-testid={`disconnect-${e.to}`} onClick={() => onDisconnect(e.to)}>
                Remove<span class="sr-only"> the connection to {e.to}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {c.type !== 'sink' && (
        <div class="field connect">
          <label for="connect-target">Connect {name} to…</label>
          <div class="row">
            <select id="connect-target" data-testid="connect-target" value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              <option value="">choose a component</option>
              {candidates.map((x) => (
                <option key={x.name} value={x.name}>
                  {x.name} ({x.type})
                </option>
              ))}
            </select>
            <button
              type="button"
              data-testid="connect-button"
              disabled={!target}
              onClick={() => {
                onConnect(target);
                setTarget('');
              }}
            >
              Connect
            </button>
          </div>
        </div>
      )}
      {other.length > 0 && (
        <p class="muted small" data-testid="other-props">
          Other properties, kept as they are: {other.map((k) => <code key={k}>{k} </code>)}
        </p>
      )}
      <button type="button" class="danger" data-testid="delete-component" onClick={onDelete} aria-keyshortcuts="Delete">
        Delete {name}
      </button>
    </section>
  );
}

function NumberInput({ id, label, value, onSet, min, max, step, int, help }: { id: string; label: string; value: number | undefined; onSet: (v: number | undefined) => void; min?: number; max?: number; step?: number; int?: boolean; help?: string }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        data-testid={id}
        type="number"
        inputMode="decimal"
        value={value ?? ''}
        min={min}
        max={max}
        step={step ?? (int ? 1 : 'any')}
        placeholder={help}
        onInput={(e) => {
          const s = e.currentTarget.value;
          if (s === '') return onSet(undefined);
          const n = Number(s);
          if (Number.isFinite(n)) onSet(int ? Math.round(n) : n);
        }}
      />
    </div>
  );
}

const DISTS = ['exponential', 'lognormal', 'deterministic'];

function FieldInput({ f, props, onProps }: { f: Field; props: Props; onProps: (fn: (p: Props) => Props, key: string) => void }) {
  const v = getPath(props, f.path);
  const set = (path: string[], x: unknown) => onProps((p) => setPath(p, path, x), path.join('.'));
  const id = `prop-${f.key}`;
  if (f.kind === 'number') return <NumberInput id={id} label={f.label} value={typeof v === 'number' ? v : undefined} onSet={(x) => set(f.path, x)} min={f.min} max={f.max} step={f.step} int={f.int} help={f.help} />;
  if (f.kind === 'text')
    return (
      <div class="field">
        <label for={id}>{f.label}</label>
        <input id={id} data-testid={id} value={typeof v === 'string' ? v : ''} onInput={(e) => set(f.path, e.currentTarget.value || undefined)} />
      </div>
    );
  if (f.kind === 'select')
    return (
      <div class="field">
        <label for={id}>{f.label}</label>
        <select id={id} data-testid={id} value={typeof v === 'string' ? v : f.def} onChange={(e) => set(f.path, e.currentTarget.value)}>
          {f.options.map((o) => (
            <option key={o}>{o}</option>
          ))}
        </select>
      </div>
    );
  // A duration: a number (fixed) or {dist, mean, cv}; other forms are kept and shown as text.
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Props) : null;
  const kind = typeof v === 'number' ? 'deterministic' : o ? String(o.dist ?? 'exponential') : '';
  const mean = typeof v === 'number' ? v : o ? ((o.mean ?? o.value) as number | undefined) : undefined;
  if (o && !DISTS.includes(kind))
    return (
      <div class="field">
        <span class="label">{f.label}</span> <code>{kind}</code> <span class="muted small">(edit it in the YAML)</span>
      </div>
    );
  const write = (k: string, m: number | undefined, cv: unknown) => {
    if (!k) return set(f.path, undefined);
    const mm = m ?? 1;
    set(f.path, k === 'deterministic' ? mm : k === 'lognormal' ? { dist: k, mean: mm, cv: typeof cv === 'number' ? cv : 1 } : { dist: k, mean: mm });
  };
  return (
    <fieldset class="field dist">
      <legend>{f.label}</legend>
      <div class="row">
        <label class="sr-only" for={`${id}-dist`}>
          {f.label}: distribution
        </label>
        <select id={`${id}-dist`} data-testid={`${id}.dist`} value={kind} onChange={(e) => write(e.currentTarget.value, mean, o?.cv)}>
          <option value="">none</option>
          {DISTS.map((d) => (
            <option key={d}>{d}</option>
          ))}
        </select>
        <label for={`${id}-mean`} class="small">
          {kind === 'deterministic' ? 'value' : 'mean'}
        </label>
        <input id={`${id}-mean`} data-testid={`${id}.mean`} type="number" min={0} step="any" value={mean ?? ''} disabled={!kind} onInput={(e) => e.currentTarget.value !== '' && write(kind, Number(e.currentTarget.value), o?.cv)} />
        {kind === 'lognormal' && (
          <>
            <label for={`${id}-cv`} class="small">
              cv
            </label>
            <input id={`${id}-cv`} data-testid={`${id}.cv`} type="number" min={0} step="any" value={(o?.cv as number | undefined) ?? ''} onInput={(e) => e.currentTarget.value !== '' && onProps((p) => setPath(p, [...f.path, 'cv'], Number(e.currentTarget.value)), `${f.key}.cv`)} />
          </>
        )}
      </div>
    </fieldset>
  );
}

function GlobalPanel({ globals, onSet }: { globals: Props; onSet: (path: string[], v: unknown) => void }) {
  const n = (k: string) => (typeof globals[k] === 'number' ? (globals[k] as number) : undefined);
  return (
    <section class="panel" aria-labelledby="global-title">
      <h2 id="global-title">Design</h2>
      <div class="field">
        <label for="global-name">Name</label>
        <input id="global-name" data-testid="global-name" value={typeof globals.name === 'string' ? globals.name : ''} spellcheck={false} onInput={(e) => onSet(['name'], e.currentTarget.value || undefined)} />
      </div>
      <NumberInput id="global-horizon" label="Horizon (ms)" value={n('horizon')} min={1} help="default 60000" onSet={(v) => onSet(['horizon'], v)} />
      <NumberInput id="global-warmup" label="Warm-up (ms)" value={n('warmup')} min={0} help="default horizon / 10" onSet={(v) => onSet(['warmup'], v)} />
      <NumberInput id="global-replications" label="Replications" value={n('replications')} min={1} max={1000} int help="default 5" onSet={(v) => onSet(['replications'], v)} />
      <NumberInput
        id="global-network"
        label="Network latency (ms, one way)"
        value={typeof getPath(globals, ['network', 'default']) === 'number' ? (getPath(globals, ['network', 'default']) as number) : undefined}
        min={0}
        help="default 0"
        onSet={(v) => onSet(['network', 'default'], v)}
      />
    </section>
  );
}

// --- results ----------------------------------------------------------------------------

function Results({ res, stale }: { res: SimulateResult | undefined; stale: boolean }) {
  if (!res) return null;
  const m = (k: string) => res.measures[k];
  const ci = (k: string) => (m(k)?.half_width != null ? ` ± ${fmt(m(k)!.half_width!, 2)}` : '');
  const comps = Object.entries(res.components);
  return (
    <section class="results" aria-labelledby="results-title" data-testid="results">
      <h2 id="results-title">Simulation of {res.name || 'the design'}</h2>
      {stale && (
        <p class="notice" role="note">
          The design changed since: these results are for the earlier version. Simulate again to update them.
        </p>
      )}
      <p class="bottleneck-line">
        Bottleneck:{' '}
        <strong class="name" data-testid="bottleneck">
          {res.bottleneck}
        </strong>
        <span data-testid="bottleneck-reason"> — {res.reason}</span>
      </p>
      {res.saturated > 0 && (
        <p class="warn" role="note">
          {fmt(res.saturated * 100)}% of replications stopped saturated (too many calls in flight): the design cannot keep up with its load.
        </p>
      )}
      <dl class="stats">
        {['p50', 'p90', 'p99', 'p999'].map((p) => (
          <div key={p}>
            <dt>latency {p}</dt>
            <dd data-testid={`latency-${p}`}>
              {ms(m(`latency_${p}`)?.mean)}
              <span class="muted small">{ci(`latency_${p}`)}</span>
            </dd>
          </div>
        ))}
        <div>
          <dt>mean latency</dt>
          <dd data-testid="latency-mean">{ms(m('latency_mean')?.mean)}</dd>
        </div>
        <div>
          <dt>throughput</dt>
          <dd data-testid="throughput">
            {fmt(m('throughput')?.mean)}/s<span class="muted small">{ci('throughput')}</span>
          </dd>
        </div>
        <div>
          <dt>success</dt>
          <dd data-testid="success-ratio">{m('success_ratio') ? `${fmt(m('success_ratio')!.mean * 100, 4)}%` : '—'}</dd>
        </div>
        <div>
          <dt>cost per hour</dt>
          <dd data-testid="cost">{m('cost_per_hour') ? fmt(m('cost_per_hour')!.mean, 4) : '—'}</dd>
        </div>
        <div>
          <dt>events</dt>
          <dd>{res.events.toLocaleString('en')}</dd>
        </div>
      </dl>
      <div class="table-wrap">
        <table data-testid="component-results">
          <caption class="sr-only">Per component</caption>
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">Type</th>
              <th scope="col" class="num">Utilisation</th>
              <th scope="col" class="num">Throughput (/s)</th>
              <th scope="col" class="num">Mean wait (ms)</th>
              <th scope="col" class="num">Queue length</th>
            </tr>
          </thead>
          <tbody>
            {comps.map(([name, c]) => {
              const u = c.measures.utilisation?.mean;
              return (
                <tr key={name} data-testid={`result-${name}`}>
                  <th scope="row" class="name">
                    {name}
                  </th>
                  <td>{c.type}</td>
                  <td class="num">
                    {u != null ? (
                      <>
                        <span class={`sw ${utilClass(u).cls}`} aria-hidden="true" /> {fmt(u * 100)}%
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td class="num">{fmt(c.measures.throughput?.mean)}</td>
                  <td class="num">{fmt(c.measures.mean_wait?.mean)}</td>
                  <td class="num">{fmt(c.measures.queue_length?.mean)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
