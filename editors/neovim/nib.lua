-- nib for Neovim 0.10+ (built-in LSP client). Put this file on your runtimepath, then
-- `require("nib")`. Ghost text needs Neovim 0.12's vim.lsp.inline_completion; older versions
-- get nib's suggestion through the completion menu (textDocument/completion).
local M = {}

function M.setup(opts)
  opts = opts or {}
  vim.api.nvim_create_autocmd("FileType", {
    pattern = { "python", "rust" },
    callback = function(args)
      vim.lsp.start({
        name = "nib",
        cmd = { opts.cmd or "nib", "serve" },
        root_dir = vim.fs.root(args.buf, { ".git", "pyproject.toml", "Cargo.toml" }) or vim.fn.getcwd(),
        init_options = opts.settings or {},
        capabilities = {
          general = { positionEncodings = { "utf-8", "utf-16" } },
        },
      })
      if vim.lsp.inline_completion then
        vim.lsp.inline_completion.enable(true, { bufnr = args.buf })
      end
    end,
  })
end

return M
