// The filter's condition builder (chips of `COLUMN OP VALUE`, an "Add condition"
// form), shared by the results explorer and the study page's runs table.
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtNum } from './format';
import { type Column, type Cond, condProblem, type Op, opLabel, OPS, short } from './where';

/** Conditions that must all hold; `columns` from `explore/columns`. */
export function FilterBuilder({
  columns,
  conds,
  onAdd,
  onRemove,
  onClear,
  emptyText = 'No conditions: every succeeded run.',
}: {
  columns: Column[];
  conds: Cond[];
  onAdd: (c: Cond) => void;
  onRemove: (i: number) => void;
  onClear: () => void;
  emptyText?: string;
}) {
  const [open, setOpen] = useState(false);
  const [picked, setCol] = useState(columns[0]?.name ?? '');
  // The columns may arrive (or change) after the first render: fall back to the first one.
  const col = columns.some((c) => c.name === picked) ? picked : (columns[0]?.name ?? '');
  const [op, setOp] = useState<Op>('gte');
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<string>();
  const addRef = useRef<HTMLButtonElement>(null);
  const colRef = useRef<HTMLSelectElement>(null);
  const chipsRef = useRef<HTMLUListElement>(null);
  const meta = columns.find((c) => c.name === col);
  useEffect(() => {
    if (open) colRef.current?.focus();
  }, [open]);
  const close = () => {
    setOpen(false);
    setProblem(undefined);
    window.setTimeout(() => addRef.current?.focus());
  };
  const submit = (e: Event) => {
    e.preventDefault();
    const c = { col, op, value: value.trim() };
    const p = condProblem(c, meta?.type);
    if (p) {
      setProblem(p);
      return;
    }
    onAdd(c);
    setValue('');
    close();
  };
  return (
    <div class="filters">
      {conds.length > 0 ? (
        <ul class="chips" aria-label="Conditions (all must hold)" ref={chipsRef}>
          {conds.map((c, i) => (
            <li key={`${i}-${c.col}-${c.op}-${c.value}`} class="chip" data-testid={`filter-chip-${i}`}>
              <span>
                <code>{short(c.col)}</code> {opLabel(c.op)} <code>{c.value}</code>
              </span>
              <button
                type="button"
                class="chip-x"
                data-testid={`filter-remove-${i}`}
                aria-label={`Remove condition ${c.col} ${opLabel(c.op)} ${c.value}`}
                onClick={() => {
                  onRemove(i);
                  // Keep the focus on the chip list (the next remove button) or the add button.
                  window.setTimeout(() => {
                    const bs = chipsRef.current?.querySelectorAll<HTMLButtonElement>('.chip-x');
                    (bs && bs.length ? bs[Math.min(i, bs.length - 1)] : addRef.current)?.focus();
                  });
                }}
              >
                ×
              </button>
            </li>
          ))}
          {conds.length > 1 && (
            <li>
              <button type="button" class="tiny secondary" onClick={onClear}>
                Clear all
              </button>
            </li>
          )}
        </ul>
      ) : (
        <p class="muted small">{emptyText}</p>
      )}
      {!open && (
        <button type="button" ref={addRef} data-testid="filter-add" aria-expanded="false" onClick={() => setOpen(true)}>
          Add condition
        </button>
      )}
      {open && (
        <form class="filter-form toolbar" onSubmit={submit} onKeyDown={(e) => e.key === 'Escape' && close()} aria-label="New condition">
          <label for="f-col">Column</label>
          <select id="f-col" ref={colRef} data-testid="filter-column" value={col} onChange={(e) => setCol(e.currentTarget.value)}>
            {columns.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
          </select>
          <label for="f-op">Comparison</label>
          <select id="f-op" data-testid="filter-op" value={op} onChange={(e) => setOp(e.currentTarget.value as Op)}>
            {OPS.filter((o) => meta?.type !== 'text' || o.op === 'eq' || o.op === 'ne').map((o) => (
              <option key={o.op} value={o.op}>
                {o.label} ({o.op})
              </option>
            ))}
          </select>
          <label for="f-val">Value</label>
          <input
            id="f-val"
            data-testid="filter-value"
            value={value}
            list={meta?.values ? 'f-vals' : undefined}
            inputMode={meta?.type === 'number' ? 'decimal' : undefined}
            placeholder={meta?.type === 'number' && meta.min !== null ? `${fmtNum(meta.min)} … ${fmtNum(meta.max)}` : ''}
            aria-invalid={problem ? 'true' : undefined}
            aria-describedby={problem ? 'f-problem' : undefined}
            onInput={(e) => {
              setValue(e.currentTarget.value);
              setProblem(undefined);
            }}
          />
          {meta?.values && (
            <datalist id="f-vals">
              {meta.values.first.map((v) => (
                <option key={v} value={v} />
              ))}
            </datalist>
          )}
          <button type="submit" data-testid="filter-apply">
            Add
          </button>
          <button type="button" class="secondary" onClick={close}>
            Cancel
          </button>
          {problem && (
            <span id="f-problem" class="warn small" role="alert">
              {problem}
            </span>
          )}
        </form>
      )}
    </div>
  );
}
