// Declaration upload with a progress bar (XMLHttpRequest upload progress events).
// Without JavaScript the form still posts normally; with it, the same POST is sent
// by XHR so the bar can follow the upload, and the server's answer replaces the page.
(function () {
  "use strict";

  function bind() {
    var form = document.getElementById("upload-form");
    if (!form || !window.FormData) { return; }
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
      var file = input && input.files && input.files[0];
      if (file && maxBytes && file.size > maxBytes) {
        event.preventDefault();
        showMessage(form, "The file is too large: uploads may be at most " +
          form.getAttribute("data-max-size") + ".");
        return;
      }
      event.preventDefault();
      send(form);
    });
  }

  function showMessage(form, text) {
    var status = document.getElementById("upload-status");
    var percent = document.getElementById("upload-percent");
    status.hidden = false;
    percent.textContent = text;
    percent.className = "error";
  }

  function send(form) {
    var status = document.getElementById("upload-status");
    var bar = document.getElementById("upload-progress");
    var percent = document.getElementById("upload-percent");
    var button = form.querySelector("button[type=submit]");
    var action = form.action || window.location.href;
    var xhr = new XMLHttpRequest();

    status.hidden = false;
    percent.className = "";
    button.disabled = true;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var value = Math.round((e.loaded / e.total) * 100);
        bar.value = value;
        percent.textContent = value + "% sent";
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      percent.textContent = "Sent; checking the file…";
    });
    xhr.addEventListener("load", function () {
      // The answer is a whole page: the batch report (after the redirect, which
      // XHR follows), the form again with its errors, or an error page. Show it
      // in place; a second request would lose its one-time messages.
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      document.title = page.title;
      document.body.replaceWith(page.body);
      if (xhr.responseURL && xhr.responseURL !== window.location.href) {
        window.history.pushState(null, "", xhr.responseURL);
      }
      bind();
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      showMessage(form, "The upload failed (network error); try again.");
    });
    xhr.open("POST", action);
    xhr.send(new FormData(form));
  }

  // Going back from a report shown in place: load that page for real.
  window.addEventListener("popstate", function () { window.location.reload(); });
  bind();
}());
