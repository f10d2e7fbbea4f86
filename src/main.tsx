import { render } from 'preact';
import { App } from './components/App';
import { registerWorker } from './link/register';
import './styles.css';

render(<App />, document.getElementById('app')!);
registerWorker();
