-- :checkhealth nib
local M = {}

local health = vim.health
local util = require("nib.util")

local function run(cmd)
  local ok, obj = pcall(function()
    return vim.system(cmd, { text = true }):wait(10000)
  end)
  if not ok then
    return nil, tostring(obj)
  end
  if obj.code ~= 0 then
    return nil, vim.trim((obj.stderr or "") .. (obj.stdout or ""))
  end
  return vim.trim(obj.stdout or ""), nil
end

local function check_neovim()
  health.start("Neovim")
  local v = vim.version()
  local version = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. version)
  else
    health.error("Neovim " .. version .. ": nib needs 0.10 or newer")
  end
  if util.has_ghost_text() then
    health.ok("ghost text available (vim.lsp.inline_completion)")
    local key = require("nib").config.keymaps.accept
    if key then
      health.info(
        ("%s accepts the ghost text in nib's buffers unless it already had an insert-mode mapping there"):format(key)
      )
    end
  else
    health.info(
      "no ghost text before Neovim 0.12: nib's suggestion is an item of the completion menu "
        .. "(<C-x><C-o>, or keymaps.complete); accepting it inserts the whole suggestion"
    )
  end
end

---@return string? the binary's path
local function check_binary(nib)
  health.start("nib binary")
  local cmd = nib.command()
  local path = vim.fn.exepath(cmd[1])
  if path == "" then
    health.error(("%q not found"):format(cmd[1]), {
      "Install nib (see its README) and put it on PATH",
      'or give its path: require("nib").setup({ cmd = "/path/to/nib" })',
    })
    return nil
  end
  local version, err = run({ path, "--version" })
  if version then
    health.ok(("%s (%s)"):format(version, path))
  else
    health.error(("%s --version failed: %s"):format(path, err or "?"))
    return nil
  end
  local log = nib.log_file()
  if log then
    health.info("log file (NIB_LOG_FILE): " .. log)
  else
    health.info("log: nib's default (nib.log in nib's data directory; warnings also in lsp.log)")
  end
  return path
end

local function check_model(nib, path)
  health.start("nib model")
  local settings = nib.config.settings or {}
  if settings.provider and settings.provider ~= "local" and settings.provider ~= "llama" then
    health.info(("provider %q: no local model needed"):format(tostring(settings.provider)))
    return
  end
  local name = type(settings.model) == "string" and settings.model ~= "" and settings.model or nil
  local model_path, err = run(name and { path, "model", "path", name } or { path, "model", "path" })
  if not model_path then
    health.error("nib model path failed: " .. (err or "?"))
    return
  end
  local stat = vim.uv.fs_stat(model_path)
  if stat and stat.type == "file" then
    health.ok(("model %s (%d MB)"):format(model_path, math.floor(stat.size / 1048576)))
  else
    health.warn(("model not downloaded: %s"):format(model_path), {
      ("nib model pull %s"):format(name or ""),
    })
  end
  local list = run({ path, "model", "list" })
  if list then
    for _, line in ipairs(vim.split(list, "\n", { trimempty = true })) do
      if line:find(" downloaded", 1, true) and not line:find("not downloaded", 1, true) then
        local model, size = line:match("^(%S+)%s+(%d+ MB)")
        health.info(("downloaded: %s (%s)"):format(model or vim.trim(line), size or "?"))
      end
    end
  end
end

local function request_sync(client, method, params, timeout)
  if vim.fn.has("nvim-0.11") == 1 then
    return client:request_sync(method, params, timeout)
  end
  return client.request_sync(method, params, timeout)
end

local function check_server()
  health.start("nib server")
  local clients = vim.lsp.get_clients({ name = "nib" })
  if #clients == 0 then
    health.warn("no nib server running", { "open a Python or Rust file after require('nib').setup()" })
    return
  end
  for _, client in ipairs(clients) do
    local buffers = vim.tbl_keys(client.attached_buffers)
    local names = vim.tbl_map(function(b)
      return vim.fn.fnamemodify(vim.api.nvim_buf_get_name(b), ":~:.")
    end, buffers)
    local version = vim.tbl_get(client, "server_info", "version") or "?"
    health.ok(
      ("nib %s attached (client %d, root %s, encoding %s): %s"):format(
        version,
        client.id,
        client.root_dir or client.config.root_dir or "?",
        client.offset_encoding or "?",
        table.concat(names, ", ")
      )
    )
    local res = request_sync(client, "nib/stats", vim.NIL, 3000)
    local stats = res and res.result
    if type(stats) == "table" then
      local engine = stats.engine
      local model = type(stats.model) == "table" and stats.model.name or nil
      if engine == "Loading" then
        health.info("the model is loading")
      elseif type(engine) == "string" then
        health.warn("engine: " .. engine)
      elseif model then
        health.ok("model loaded: " .. model)
      end
    end
  end
end

function M.check()
  local nib = require("nib")
  check_neovim()
  local path = check_binary(nib)
  if path then
    check_model(nib, path)
  end
  check_server()
end

return M
