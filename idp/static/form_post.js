// response_mode=form_post: send the answer to the application at once (the page's
// button does it where scripts do not run).
document.forms[0].submit();
