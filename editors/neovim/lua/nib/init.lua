-- nib for Neovim 0.10+ (built-in LSP client).
--
-- require("nib").setup({ settings = { maxTokens = 64 } })
--
-- Starts `nib serve` for Python and Rust buffers, one server per project root. Neovim 0.12+
-- shows nib's suggestion as ghost text (vim.lsp.inline_completion); older versions get it as an
-- item of the completion menu, and lua/nib/complete.lua makes accepting that item insert the
-- whole suggestion. See editors/neovim/README.md.
local util = require("nib.util")

local M = {}

---@class nib.Config
local defaults = {
  -- The nib binary (a path or a name on PATH), or the whole command as a list.
  cmd = "nib",
  filetypes = { "python", "rust" },
  -- The nearest parent directory holding one of these is the project root (nib indexes it);
  -- without one, the file's own directory.
  root_markers = {
    ".git",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "Cargo.toml",
  },
  -- nib's settings (see the README), sent as initializationOptions.
  settings = {},
  -- Where nib writes its log (NIB_LOG_FILE). nil or false: nib's own default (nib.log in its
  -- data directory, ~/.cache/nib; only warnings and errors go to stderr, which Neovim records
  -- in lsp.log); a path: that file.
  log_file = nil,
  -- Ghost text through vim.lsp.inline_completion (Neovim 0.12+).
  ghost_text = true,
  -- Completion-menu support: accepting nib's item inserts the whole suggestion, and the menu's
  -- shown / accepted / dismissed events reach nib.
  menu = true,
  keymaps = {
    -- Insert mode: accept the ghost text (Neovim 0.12+); the key keeps its meaning when there is
    -- nothing to accept. Not mapped when the key already has an insert-mode mapping (a snippet
    -- or completion plugin's). false: no mapping.
    accept = "<Tab>",
    -- Insert mode: open the completion menu with nib's suggestion only (any version).
    -- false: no mapping (<C-x><C-o> still lists it with the other servers' items).
    complete = false,
  },
}

---@type nib.Config
M.config = vim.deepcopy(defaults)

local group = vim.api.nvim_create_augroup("nib", { clear = true })

--- The command that starts the server.
---@return string[]
function M.command()
  local cmd = M.config.cmd
  if type(cmd) == "table" then
    return cmd
  end
  return { cmd, "serve" }
end

--- The log file nib is told to use, or nil when it keeps its default.
---@return string?
function M.log_file()
  local f = M.config.log_file
  if type(f) == "string" then
    return f
  end
  -- nib reads $NIB_LOG_FILE from the environment it inherits.
  return nil
end

---@param bufnr integer
---@return string
function M.root_dir(bufnr)
  local root = vim.fs.root(bufnr, M.config.root_markers)
  if root then
    return root
  end
  return vim.fs.dirname(vim.api.nvim_buf_get_name(bufnr))
end

local function capabilities()
  return vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), {
    -- nib works in UTF-8 byte offsets when the client offers them.
    general = { positionEncodings = { "utf-8", "utf-16" } },
  })
end

--- Start nib for a buffer (or attach the buffer to the running server of its root).
---@param bufnr integer?
---@return integer? client_id
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= "" or vim.api.nvim_buf_get_name(bufnr) == "" then
    return nil
  end
  local cmd_env = nil
  local log = M.log_file()
  if log then
    cmd_env = { NIB_LOG_FILE = log }
  end
  return vim.lsp.start({
    name = "nib",
    cmd = M.command(),
    cmd_env = cmd_env,
    root_dir = M.root_dir(bufnr),
    -- An empty Lua table would be sent as [] (vim.json), which nib rejects.
    init_options = next(M.config.settings) and M.config.settings or vim.empty_dict(),
    capabilities = capabilities(),
  }, { bufnr = bufnr })
end

local function map_accept(bufnr, lhs)
  if vim.b[bufnr].nib_accept_key == lhs then
    return
  end
  if vim.fn.maparg(lhs, "i") ~= "" then
    -- The key is the user's (a snippet or completion plugin): leave it.
    vim.b[bufnr].nib_accept_key = false
    return
  end
  vim.b[bufnr].nib_accept_key = lhs
  -- Not an expr mapping: accepting edits the buffer, which expr mappings may not do.
  vim.keymap.set("i", lhs, function()
    -- get() returns false when no candidate is shown (Neovim 0.12).
    if not vim.lsp.inline_completion.get({ bufnr = bufnr }) then
      vim.api.nvim_feedkeys(vim.keycode(lhs), "n", false)
    end
  end, { buffer = bufnr, desc = "nib: accept the ghost text" })
end

---@param client vim.lsp.Client
---@param bufnr integer
local function on_attach(client, bufnr)
  local cfg = M.config
  if cfg.ghost_text and util.has_ghost_text() then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    if cfg.keymaps.accept then
      map_accept(bufnr, cfg.keymaps.accept)
    end
  end
  if cfg.menu then
    require("nib.complete").attach(bufnr)
    if cfg.keymaps.complete then
      vim.keymap.set("i", cfg.keymaps.complete, function()
        require("nib.complete").trigger()
      end, { buffer = bufnr, desc = "nib: complete" })
    end
  end
end

---@param opts nib.Config?
function M.setup(opts)
  opts = opts or {}
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts)
  -- Lists (and the settings) are taken as given, not merged index by index with the defaults.
  for _, key in ipairs({ "cmd", "filetypes", "root_markers", "settings" }) do
    if opts[key] ~= nil then
      M.config[key] = opts[key]
    end
  end
  vim.api.nvim_clear_autocmds({ group = group })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      M.start(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd("LspAttach", {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == "nib" then
        on_attach(client, args.buf)
      end
    end,
  })
  -- Buffers opened before setup().
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(M.config.filetypes, vim.bo[buf].filetype) then
      M.start(buf)
    end
  end
end

--- Stop every nib server and start them again for the buffers they served.
function M.restart()
  local clients = vim.lsp.get_clients({ name = "nib" })
  if #clients == 0 then
    util.notify_user("no nib server is running; starting one for this buffer")
    M.start(0)
    return
  end
  local buffers = {}
  for _, client in ipairs(clients) do
    for buf in pairs(client.attached_buffers) do
      buffers[#buffers + 1] = buf
    end
    util.stop(client)
  end
  vim.wait(5000, function()
    return vim.iter(clients):all(util.is_stopped)
  end, 50)
  for _, buf in ipairs(buffers) do
    if vim.api.nvim_buf_is_valid(buf) then
      M.start(buf)
    end
  end
  util.notify_user(("restarted (%d buffer%s)"):format(#buffers, #buffers == 1 and "" or "s"))
end

--- Print nib's counters (`nib/stats`).
---@param callback fun(stats: table?, err: table?)?
function M.stats(callback)
  local client = util.client(vim.api.nvim_get_current_buf()) or util.client()
  if not client then
    util.notify_user("no nib server is running", vim.log.levels.WARN)
    return
  end
  util.request(client, "nib/stats", vim.NIL, function(err, result)
    if callback then
      callback(result, err)
    elseif err then
      util.notify_user("nib/stats failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    else
      vim.print(result)
    end
  end)
end

return M
