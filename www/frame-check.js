// A classic script, run before the page's modules: in a frame sandboxed without `allow-same-origin`
// the page has an opaque origin ("null"), and the browser refuses it its module scripts (fetched
// with CORS), its training worker and its storage, so nothing else of the page would ever run to
// say why. A classic script from the page's own folder still loads there: it says what the frame
// lacks and how to embed the page instead, in place of the loading message.
'use strict';
const loading = document.getElementById('loading');
if (loading && location.protocol === 'file:') {
  // Opened from disk: its origin is "null" too, but no frame is to blame.
  loading.innerHTML = '';
  for (const [text, error] of [
    ['The Instruction Diversity Playground cannot start from a file.', true],
    ['Browsers refuse a page opened as a file its module scripts and its training worker. Serve its '
      + 'folder over http instead: python3 -m http.server in the folder, then open '
      + 'http://localhost:8000/ (or, from the project, bash scripts/serve).', false],
  ]) {
    const p = document.createElement('p');
    p.textContent = text;
    if (error) p.className = 'error';
    loading.append(p);
  }
  loading.id = 'file-refused';
} else if (self.origin === 'null') {
  if (loading) {
    loading.innerHTML = '';
    const say = (text) => {
      const p = document.createElement('p');
      p.textContent = text;
      loading.append(p);
      return p;
    };
    // A tab opened from such a frame without allow-popups-to-escape-sandbox inherits its sandbox.
    const framed = window.top !== window;
    say(framed
      ? 'The Instruction Diversity Playground cannot start in this frame.'
      : 'The Instruction Diversity Playground cannot start in this tab: it was opened from a sandboxed frame and keeps its sandbox.').className = 'error';
    say(`The page that embeds it sandboxes ${framed ? 'the frame' : 'its frame'} without allow-same-origin, so the browser gives `
      + 'this page no origin: its scripts, its training worker and its storage are refused.');
    say('To embed it, leave out the sandbox attribute, or give it '
      + 'sandbox="allow-scripts allow-same-origin" (and allow-downloads to export runs, allow-popups '
      + 'allow-popups-to-escape-sandbox to open it in its own tab).');
    // The page's own address, in its full layout: the frame's compact one does not fit a tab.
    const url = new URL(location.href);
    url.hash = url.hash.replace(/&embed=1\b/, '');
    const open = say(framed ? 'Or open it in a tab of its own (the frame may not allow that): ' : 'Copy its address into a new tab: ');
    const link = document.createElement('a');
    link.href = url.href;
    link.target = '_blank';
    link.rel = 'noopener';
    link.textContent = url.href;
    open.append(link);
    loading.id = 'frame-refused';
  }
}
