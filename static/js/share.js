// The referral page's share buttons, added only where they work: "Copy link" with the Clipboard API, "Share…"
// with the Web Share API. Without JavaScript the link stays in its field and the page works as before.
(function () {
  "use strict";
  var box = document.querySelector("[data-share]");
  var input = document.getElementById("share-link");
  if (!box || !input) return;
  var status = box.querySelector("[data-share-status]");
  var copy = box.querySelector("[data-share-copy]");
  var share = box.querySelector("[data-share-native]");
  if (copy && navigator.clipboard && window.isSecureContext) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        status.textContent = box.dataset.copied;
      });
    });
  }
  if (share && navigator.share) {
    share.hidden = false;
    share.addEventListener("click", function () {
      navigator.share({ title: box.dataset.shareTitle, url: input.value }).catch(function () {});
    });
  }
})();
