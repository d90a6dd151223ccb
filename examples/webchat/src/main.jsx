// The official Botpress webchat on your own page, talking to a bot on Parley.
//
// apiUrl is Parley's public URL followed by /webchat; clientId is the webhook id of the bot's
// chat installation. Set them below, or pass them in the page's address:
// index.html?apiUrl=https://parley.example/webchat&clientId=<webhook id>
import { Fab, Webchat } from '@botpress/webchat'
import { useState } from 'react'
import { createRoot } from 'react-dom/client'

const DEFAULTS = {
  apiUrl: 'http://127.0.0.1:8080/webchat',
  clientId: 'your-chat-installation-webhook-id',
}

const query = new URLSearchParams(window.location.search)
const apiUrl = query.get('apiUrl') || DEFAULTS.apiUrl
const clientId = query.get('clientId') || DEFAULTS.clientId

function App() {
  const [open, setOpen] = useState(true)
  return (
    <>
      <Webchat
        apiUrl={apiUrl}
        clientId={clientId}
        configuration={{ botName: 'Parley bot', botDescription: 'A self-hosted Botpress bot' }}
        style={{
          width: '400px',
          height: '600px',
          display: open ? 'flex' : 'none',
          position: 'fixed',
          bottom: '90px',
          right: '20px',
        }}
      />
      <Fab
        onClick={() => setOpen(!open)}
        style={{ position: 'fixed', bottom: '20px', right: '20px', width: '64px', height: '64px' }}
      />
    </>
  )
}

createRoot(document.getElementById('root')).render(<App />)
