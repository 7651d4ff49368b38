// Dropping or choosing a file puts its text in the form; the server does the checking.
(function () {
  var area = document.getElementById("credential");
  var file = document.getElementById("file");
  if (!area || !file) return;
  function load(chosen) {
    if (!chosen) return;
    var reader = new FileReader();
    reader.onload = function () { area.value = String(reader.result); area.focus(); };
    reader.readAsText(chosen);
  }
  file.addEventListener("change", function () { load(file.files[0]); });
  area.addEventListener("dragover", function (e) { e.preventDefault(); area.classList.add("dropping"); });
  area.addEventListener("dragleave", function () { area.classList.remove("dropping"); });
  area.addEventListener("drop", function (e) {
    e.preventDefault();
    area.classList.remove("dropping");
    if (e.dataTransfer && e.dataTransfer.files.length) load(e.dataTransfer.files[0]);
  });
})();
