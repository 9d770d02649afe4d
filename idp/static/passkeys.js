// Passkeys (WebAuthn): a form marked data-passkey="register" or "authenticate" asks its
// options (data-options: a challenge issued to this session) when submitted, hands them
// to navigator.credentials (binary fields travel as base64url), puts the browser's answer
// in its hidden "credential" field and is then sent as usual: the server answers with a
// page, its errors beside the form. Without WebAuthn, or when the person cancels, a
// French message says so in the form's [data-passkey-error] paragraph.
(function () {
  "use strict";
  var NO_WEBAUTHN = "Votre navigateur ne permet pas d'utiliser une clé d'accès. Utilisez " +
    "un navigateur récent (Firefox, Chrome, Edge ou Safari), ou un autre moyen de connexion.";
  var CANCELLED = "L'opération a été annulée ou le délai est dépassé. Vous pouvez réessayer.";
  var ALREADY = "Cette clé d'accès est déjà enregistrée sur votre compte.";
  var FAILED = "La clé d'accès n'a pas pu être utilisée. Réessayez.";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIds(descriptors) {
    (descriptors || []).forEach(function (descriptor) {
      descriptor.id = toBuffer(descriptor.id);
    });
  }

  function ceremony(kind, options) {
    options.challenge = toBuffer(options.challenge);
    if (kind === "register") {
      options.user.id = toBuffer(options.user.id);
      decodeIds(options.excludeCredentials);
      return navigator.credentials.create({publicKey: options});
    }
    decodeIds(options.allowCredentials);
    return navigator.credentials.get({publicKey: options});
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {clientDataJSON: toText(response.clientDataJSON)}
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      if (response.userHandle) {
        json.response.userHandle = toText(response.userHandle);
      }
    }
    return JSON.stringify(json);
  }

  function messageOf(error) {
    if (error.name === "NotAllowedError" || error.name === "AbortError") {
      return CANCELLED;
    }
    if (error.name === "InvalidStateError") {
      return ALREADY;
    }
    return error.fromServer ? error.message : FAILED;
  }

  function explain(form, message) {
    var place = form.querySelector("[data-passkey-error]");
    place.textContent = message;
    place.hidden = false;
    place.focus();
  }

  function options(form) {
    return fetch(form.dataset.options, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": form.elements.csrf_token.value, "Accept": "application/json"}
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var error = new Error(body.error || FAILED);
          error.fromServer = true;
          throw error;
        }
        return body;
      });
    });
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var place = form.querySelector("[data-passkey-error]");
    place.setAttribute("tabindex", "-1");
    form.addEventListener("submit", function (event) {
      var kind = form.dataset.passkey;
      var name = form.elements.name;
      if (form.elements.credential.value || (name && !name.value.trim())) {
        return; // answered already, or a field to fill first: the server says which
      }
      event.preventDefault();
      place.hidden = true;
      if (!window.PublicKeyCredential || !navigator.credentials) {
        explain(form, NO_WEBAUTHN);
        return;
      }
      options(form).then(function (received) {
        return ceremony(kind, received);
      }).then(function (credential) {
        form.elements.credential.value = answer(credential);
        form.submit();
      }).catch(function (error) {
        explain(form, messageOf(error));
      });
    });
  });
})();
