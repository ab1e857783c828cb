// A classic script, run before the page's modules: in a frame sandboxed without `allow-same-origin`
// the page has an opaque origin ("null"), and the browser refuses it its module scripts (fetched
// with CORS), its training worker and its storage, so nothing else of the page would ever run to
// say why. A classic script from the page's own folder still loads there: it says what the frame
// lacks and how to embed the page instead, in place of the loading message.
'use strict';
if (self.origin === 'null') {
  const loading = document.getElementById('loading');
  if (loading) {
    loading.innerHTML = '';
    const say = (text) => {
      const p = document.createElement('p');
      p.textContent = text;
      loading.append(p);
      return p;
    };
    say('The Instruction Diversity Playground cannot start in this frame.').className = 'error';
    say('The page that embeds it sandboxes the frame without allow-same-origin, so the browser gives '
      + 'this page no origin: its scripts, its training worker and its storage are refused.');
    say('To embed it, leave out the sandbox attribute, or give it '
      + 'sandbox="allow-scripts allow-same-origin" (and allow-downloads to export runs, allow-popups '
      + 'to open it in its own tab).');
    const open = say('');
    const link = document.createElement('a');
    link.href = location.href;
    link.target = '_blank';
    link.rel = 'noopener';
    link.textContent = 'Open the playground in its own tab';
    open.append(link);
    loading.id = 'frame-refused';
  }
}
