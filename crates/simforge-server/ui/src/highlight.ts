// A small line-based YAML highlighter: enough for study and topology files
// (keys, comments, strings, numbers, booleans, anchors, punctuation). It returns
// HTML with every character of the input escaped, so it can sit in a <pre>
// exactly under a transparent <textarea>.

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const span = (cls: string, s: string) => (s ? `<span class="y-${cls}">${esc(s)}</span>` : '');

// A scalar, key, or flow piece, anywhere in a line's value part.
const TOKEN =
  /("(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?)|(#.*$)|([[\]{},])|((?:^|(?<=[\s[{,]))[A-Za-z_][\w.\-]*(?=\s*:(?:\s|$)))|(-?(?:\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+|\.inf|\.nan)(?=[\s,\]}]|$))|(\b(?:true|false|null|yes|no|on|off)\b|~)|([&*][\w-]+|![\w!/-]*)|(:(?=\s|$)|^\s*-(?=\s|$))/g;

function line(l: string): string {
  let out = '';
  let at = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(l); m; m = TOKEN.exec(l)) {
    if (m[0] === '') {
      TOKEN.lastIndex++;
      continue;
    }
    // '#' only starts a comment at the start or after white space.
    if (m[2] && m.index > 0 && !/\s/.test(l[m.index - 1])) continue;
    out += esc(l.slice(at, m.index));
    const cls = m[1] ? 'str' : m[2] ? 'com' : m[3] ? 'pun' : m[4] ? 'key' : m[5] ? 'num' : m[6] ? 'kw' : m[7] ? 'ref' : 'pun';
    out += span(cls, m[0]);
    at = m.index + m[0].length;
    if (m[2]) break;
  }
  return out + esc(l.slice(at));
}

/** HTML for `src`, one highlighted line per input line. */
export function highlightYaml(src: string): string {
  return src
    .split('\n')
    .map((l) => {
      // A document marker or a block-scalar line is left as is (after the key).
      if (/^(---|\.\.\.)\s*$/.test(l)) return span('pun', l);
      return line(l);
    })
    .join('\n');
}
