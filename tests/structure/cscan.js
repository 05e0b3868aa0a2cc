// cscan.js — what tests/structure/structure.test.js reads out of C source:
// the function definitions with their length, and the #include lines. A
// small lexer, not a compiler: comments, string and character literals and
// preprocessor lines are blanked first (newlines kept, so line numbers stay
// true), then braces are counted. A `{` at file level whose previous token
// is `)` opens a function body; any other (`= {`, `struct x {`, `enum {`)
// opens data, whose braces are counted but not reported.
'use strict';

// The source with every comment, literal and preprocessor line blanked to
// spaces (newlines kept). Throws on an unterminated comment or literal.
function blank(src) {
  const out = src.split('');
  const n = src.length;
  const wipe = (from, to) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  let i = 0;
  let lineStart = true; // only white space since the last newline
  while (i < n) {
    const c = src[i];
    if (c === '\n') {
      lineStart = true;
      i++;
      continue;
    }
    if (lineStart && c === '#') { // a directive, with its continuation lines
      let j = i;
      while (j < n && src[j] !== '\n') {
        if (src[j] === '\\' && src[j + 1] === '\n') j++;
        else if (src[j] === '/' && src[j + 1] === '*') { // a comment inside it
          const end = src.indexOf('*/', j + 2);
          if (end < 0) throw new Error(`unterminated comment at offset ${j}`);
          j = end + 1;
        }
        j++;
      }
      wipe(i, j);
      i = j;
      continue;
    }
    if (c !== ' ' && c !== '\t' && c !== '\r') lineStart = false;
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`unterminated comment at offset ${i}`);
      wipe(i, end + 2);
      i = end + 2;
    } else if (c === '/' && src[i + 1] === '/') {
      let j = i;
      while (j < n && src[j] !== '\n') j++;
      wipe(i, j);
      i = j;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && src[j] !== c) {
        if (src[j] === '\\') j++;
        else if (src[j] === '\n') throw new Error(`unterminated literal at offset ${i}`);
        j++;
      }
      if (j >= n) throw new Error(`unterminated literal at offset ${i}`);
      wipe(i, j + 1);
      i = j + 1;
    } else {
      i++;
    }
  }
  return out.join('');
}

// The name of the function whose parameter list ends at code[close] (a
// `)`): the identifier before the matching `(`.
function nameBefore(code, close) {
  let depth = 0;
  let k = close;
  for (; k >= 0; k--) {
    if (code[k] === ')') depth++;
    else if (code[k] === '(' && --depth === 0) break;
  }
  const m = /([A-Za-z_]\w*)\s*$/.exec(code.slice(Math.max(0, k - 200), Math.max(0, k)));
  return m ? m[1] : '?';
}

// Every function defined in src: {name, line (of its `{`, 1-based), lines
// (those strictly between its braces)}. Throws when the braces do not
// balance.
function functions(src) {
  const code = blank(src);
  const found = [];
  let depth = 0;
  let line = 1;
  let open = null; // the function being read: {name, line}
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (c === '\n') line++;
    else if (c === '{') {
      if (depth === 0) {
        let k = i - 1;
        while (k >= 0 && /\s/.test(code[k])) k--;
        open = k >= 0 && code[k] === ')' ? { name: nameBefore(code, k), line } : null;
      }
      depth++;
    } else if (c === '}') {
      if (--depth < 0) throw new Error(`unbalanced '}' at line ${line}`);
      if (depth === 0 && open) {
        found.push({ name: open.name, line: open.line, lines: line - open.line - 1 });
        open = null;
      }
    }
  }
  if (depth !== 0) throw new Error('unbalanced braces at the end of the file');
  return found;
}

// The #include lines of src: {name, quoted, line}.
function includes(src) {
  const found = [];
  src.split('\n').forEach((text, i) => {
    const m = /^\s*#\s*include\s*([<"])([^>"]+)[>"]/.exec(text);
    if (m) found.push({ name: m[2], quoted: m[1] === '"', line: i + 1 });
  });
  return found;
}

module.exports = { blank, functions, includes };
