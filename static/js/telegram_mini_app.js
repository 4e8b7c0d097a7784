/*
 * The Mini App's launch page: Telegram opens it with its launch data in the address fragment
 * (#tgWebAppData=...&tgWebAppThemeParams=...), which never reaches the server. Copy both into
 * the page's form and post it (same page, ?next= kept). Our own file on our own origin: no
 * script from Telegram's servers, and the CSP allows no inline script.
 */
(function () {
  'use strict'
  var form = document.querySelector('[data-telegram-mini-app]')
  if (!form) return
  var params = new URLSearchParams(window.location.hash.slice(1))
  var launchData = params.get('tgWebAppData')
  var theme = params.get('tgWebAppThemeParams')
  if (theme) {
    // Wear Telegram's colours while this page is up (the site's pages get them from the
    // server afterwards). CSSOM, not a style attribute: the CSP allows no inline style.
    try {
      var colours = JSON.parse(theme)
      var map = { '--paper': 'bg_color', '--wash': 'secondary_bg_color', '--ink': 'text_color', '--muted': 'hint_color', '--accent': 'button_color', '--accent-ink': 'button_text_color' }
      Object.keys(map).forEach(function (name) {
        var value = colours[map[name]]
        if (typeof value === 'string' && /^#[0-9a-fA-F]{6}$/.test(value)) {
          document.documentElement.style.setProperty(name, value)
        }
      })
    } catch (e) { /* not JSON: keep the site's own colours */ }
  }
  if (launchData === null) {
    var missing = form.querySelector('[data-telegram-mini-app-missing]')
    if (missing) missing.hidden = false
    return
  }
  form.elements.init_data.value = launchData
  form.elements.theme.value = theme || ''
  // Keep the one-use launch data out of the history entry and out of a reload.
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search)
  }
  form.submit()
})()
