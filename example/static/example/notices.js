// The notices bar (django.contrib.messages): each notice's close button removes it, and the
// bar goes with the last one.

const bar = document.getElementById("notices");
bar?.addEventListener("click", (event) => {
  const button = event.target.closest(".notice-close");
  if (!button) return;
  button.closest(".notice").remove();
  if (!bar.querySelector(".notice")) bar.hidden = true;
});
