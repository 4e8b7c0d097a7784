/*
 * Legacy Telegram sign-in, callback page: Telegram returns with #tgAuthResult=<base64 JSON>
 * in the address fragment, which never reaches the server. Copy it into the page's form and
 * post it (same page, ?state= kept). A separate file because the CSP allows no inline script.
 */
(function () {
  'use strict'
  var form = document.querySelector('[data-telegram-login-result]')
  if (!form) return
  var params = new URLSearchParams(window.location.hash.slice(1))
  var result = params.get('tgAuthResult')
  if (result === null) {
    var missing = form.querySelector('[data-telegram-login-missing]')
    if (missing) missing.hidden = false
    return
  }
  // URLSearchParams turns '+' into ' '; Telegram sends base64url, but be safe either way.
  form.elements.tgAuthResult.value = result.replace(/ /g, '+')
  // Keep the result out of the history entry and out of a reload.
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search)
  }
  form.submit()
})()
