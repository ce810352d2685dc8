// Plot export: the on-screen <svg> serialized with its colours resolved, and a
// PNG drawn from it through a blob: image (allowed by the server's CSP:
// img-src 'self' data: blob:). No inline scripts, no external requests.

/** The plot as standalone SVG text: text colour and background fixed from the page. */
export function svgText(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const cs = getComputedStyle(svg);
  const fg = cs.color || '#1a1d23';
  const bg = getComputedStyle(document.body).getPropertyValue('--surface').trim() || '#ffffff';
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('style', `color:${fg};background:${bg};--surface:${bg}`);
  clone.removeAttribute('class');
  clone.querySelectorAll('.brush-target').forEach((e) => e.remove());
  const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  rect.setAttribute('width', '100%');
  rect.setAttribute('height', '100%');
  rect.setAttribute('fill', bg);
  const after = clone.querySelector('desc') ?? clone.querySelector('title');
  clone.insertBefore(rect, after ? after.nextSibling : clone.firstChild);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(clone)}\n`;
}

function save(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function downloadSvg(svg: SVGSVGElement, name: string) {
  save(new Blob([svgText(svg)], { type: 'image/svg+xml' }), `${name}.svg`);
}

/** Draws the SVG at 2× into a canvas and saves it as PNG. */
export function downloadPng(svg: SVGSVGElement, name: string): Promise<void> {
  const w = Number(svg.getAttribute('width')) || svg.viewBox.baseVal.width;
  const h = Number(svg.getAttribute('height')) || svg.viewBox.baseVal.height;
  const url = URL.createObjectURL(new Blob([svgText(svg)], { type: 'image/svg+xml' }));
  return new Promise<void>((ok, fail) => {
    const img = new Image();
    img.onload = () => {
      const scale = 2;
      const c = document.createElement('canvas');
      c.width = Math.round(w * scale);
      c.height = Math.round(h * scale);
      const g = c.getContext('2d');
      if (!g) {
        URL.revokeObjectURL(url);
        fail(new Error('no 2D canvas'));
        return;
      }
      g.scale(scale, scale);
      g.drawImage(img, 0, 0, w, h);
      URL.revokeObjectURL(url);
      c.toBlob((b) => (b ? (save(b, `${name}.png`), ok()) : fail(new Error('the browser could not encode a PNG'))), 'image/png');
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      fail(new Error('the plot could not be drawn as an image'));
    };
    img.src = url;
  });
}
