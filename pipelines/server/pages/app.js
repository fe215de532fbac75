// Shared helpers of the demo pages: the model name from the URL, the TF Serving REST calls,
// error display and a few SVG builders. Plain browser JavaScript, no dependencies.
"use strict";

const App = {
  // The model to call: ?model=NAME in the page's URL, else the task's own name (the
  // server names a model after its task unless told otherwise).
  modelName(task) {
    return new URLSearchParams(window.location.search).get("model") || task;
  },

  // One JSON request; a non-2xx answer throws the server's one-line {"error": ...}.
  async request(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data;
    try {
      data = await response.json();
    } catch (err) {
      throw new Error(`${method} ${path}: HTTP ${response.status}, not JSON`);
    }
    if (!response.ok) throw new Error(data.error || `${method} ${path}: HTTP ${response.status}`);
    return data;
  },

  // Columnar TF Serving predict: inputs {name: value} → outputs {name: value}, whichever
  // signature; a signature with one output answers a bare value, returned as {value}.
  async predict(model, signature, inputs) {
    const path = `/v1/models/${encodeURIComponent(model)}:predict`;
    const data = await App.request("POST", path, { signature_name: signature, inputs });
    const outputs = data.outputs;
    return outputs !== null && typeof outputs === "object" && !Array.isArray(outputs)
      ? outputs
      : { value: outputs };
  },

  // The served model's entry of GET /v1/models (task, info, config, bounds).
  async describe(model) {
    const data = await App.request("GET", "/v1/models");
    const entry = data.models.find((m) => m.name === model);
    if (!entry) throw new Error(`model '${model}' is not served (see the index page)`);
    return entry;
  },

  // Runs an async action for a form: disables the button, shows errors in #error.
  bind(form, action) {
    const error = document.getElementById("error");
    const status = document.getElementById("status");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      error.textContent = "";
      if (status) status.textContent = "working…";
      document.body.dataset.state = "busy";
      button.disabled = true;
      try {
        await action();
        document.body.dataset.state = "done";
        if (status) status.textContent = "";
      } catch (err) {
        error.textContent = String(err.message || err);
        document.body.dataset.state = "error";
        if (status) status.textContent = "";
      } finally {
        button.disabled = false;
      }
    });
  },

  // An element with attributes and children (strings become text nodes).
  el(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    for (const child of children) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  },

  svg(tag, attributes = {}, children = []) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  },
};
