import type { Ref } from 'preact';
import { useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import { highlightYaml } from './highlight';

export interface LineMark {
  line: number;
  text: string;
}

/**
 * A YAML editor: the real input is a <textarea> (labelled, keyboard and screen
 * reader friendly); a highlighted <pre> sits exactly under its transparent text,
 * and a gutter shows line numbers and a marker on every line in `marks`.
 */
export function YamlEditor({
  id,
  value,
  onInput,
  marks = [],
  rows = 22,
  testid,
  describedBy,
  textareaRef,
  invalid,
}: {
  id: string;
  value: string;
  onInput: (v: string) => void;
  marks?: LineMark[];
  rows?: number;
  testid?: string;
  describedBy?: string;
  textareaRef?: Ref<HTMLTextAreaElement>;
  invalid?: boolean;
}) {
  const pre = useRef<HTMLPreElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const ta = useRef<HTMLTextAreaElement | null>(null);
  const html = useMemo(() => highlightYaml(value) + '\n', [value]);
  const lines = value.split('\n').length;
  const byLine = useMemo(() => {
    const m = new Map<number, string[]>();
    for (const k of marks) m.set(k.line, [...(m.get(k.line) ?? []), k.text]);
    return m;
  }, [marks]);

  const sync = () => {
    const t = ta.current;
    if (!t) return;
    if (pre.current) {
      pre.current.scrollTop = t.scrollTop;
      pre.current.scrollLeft = t.scrollLeft;
    }
    if (gutter.current) gutter.current.scrollTop = t.scrollTop;
  };
  useLayoutEffect(sync, [value]);

  return (
    <div class={`yaml-editor${invalid ? ' invalid' : ''}`} style={{ '--rows': String(rows) }}>
      <div class="gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => {
          const m = byLine.get(i + 1);
          return (
            <div key={i} class={m ? 'marked' : undefined} title={m?.join('\n')}>
              {m ? '●' : ''}
              {i + 1}
            </div>
          );
        })}
      </div>
      <div class="code">
        <pre ref={pre} aria-hidden="true">
          {/* marked lines get a background band behind the text */}
          <span class="bands">
            {[...byLine.keys()].map((l) => (
              <span key={l} class="band" style={{ top: `calc(${l - 1} * var(--lh) + var(--pad))` }} />
            ))}
          </span>
          <code dangerouslySetInnerHTML={{ __html: html }} />
        </pre>
        <textarea
          id={id}
          ref={(el) => {
            ta.current = el;
            if (typeof textareaRef === 'function') textareaRef(el);
            else if (textareaRef) textareaRef.current = el;
          }}
          data-testid={testid}
          value={value}
          spellcheck={false}
          autocapitalize="off"
          autocomplete="off"
          wrap="off"
          aria-describedby={describedBy}
          aria-invalid={invalid ? 'true' : undefined}
          onInput={(e) => onInput((e.currentTarget as HTMLTextAreaElement).value)}
          onScroll={sync}
          onKeyDown={(e) => {
            // Tab inserts two spaces (Escape then Tab leaves the editor, as in most code editors).
            if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && !escaped.current) {
              e.preventDefault();
              const t = e.currentTarget as HTMLTextAreaElement;
              const { selectionStart: a, selectionEnd: b } = t;
              t.setRangeText('  ', a, b, 'end');
              onInput(t.value);
            }
            escaped.current = e.key === 'Escape';
          }}
        />
      </div>
    </div>
  );
}

const escaped = { current: false };

/** Moves the caret of `t` to 1-based `line`, `column` and scrolls it into view. */
export function moveCaret(t: HTMLTextAreaElement, line: number, column = 1) {
  const ls = t.value.split('\n');
  const l = Math.max(1, Math.min(line, ls.length));
  let pos = 0;
  for (let i = 0; i < l - 1; i++) pos += ls[i].length + 1;
  pos += Math.max(0, Math.min(column - 1, ls[l - 1].length));
  t.focus();
  t.setSelectionRange(pos, pos);
  const lh = parseFloat(getComputedStyle(t).lineHeight) || 20;
  const want = (l - 1) * lh;
  if (want < t.scrollTop || want > t.scrollTop + t.clientHeight - 2 * lh) t.scrollTop = Math.max(0, want - t.clientHeight / 3);
}

/**
 * A read-only view of a file with line numbers: YAML highlighted like the
 * editor, anything else as plain text. A focusable region, so it scrolls from
 * the keyboard.
 */
export function YamlView({ text, label, testid, yaml = true }: { text: string; label: string; testid?: string; yaml?: boolean }) {
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const html = useMemo(() => (yaml ? highlightYaml(body) : undefined), [body, yaml]);
  const lines = body.split('\n').length;
  return (
    <div class="yaml-view" role="region" aria-label={label} tabIndex={0} data-testid={testid}>
      <div class="gutter" aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => (
          <div key={i}>{i + 1}</div>
        ))}
      </div>
      <pre>{html === undefined ? <code>{body}</code> : <code dangerouslySetInnerHTML={{ __html: html }} />}</pre>
    </div>
  );
}
